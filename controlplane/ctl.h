/* ctl: registers spcp's control-socket commands (see ctl.c). */
#ifndef SP_CP_CTL_H
#define SP_CP_CTL_H

#include "cp.h"
#include "ctlsock.h"

int ctl_register(ctlsock *cs, const struct cp_config *cfg, dp_link *link);

#endif
