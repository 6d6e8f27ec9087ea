/*
 * clip_feed: an H.264 file (MP4, MKV) played in a loop, in real time, into
 * whichever appsrc is attached: sp_camera's /clip mount, which thereby
 * looks like a live source (no Range, no seeking that would disturb the
 * other viewers of its shared media).
 *
 * A reader pipeline (filesrc ! parsebin ! h264parse ! appsink sync=true)
 * runs from start to stop whether or not an appsrc is attached; it loops
 * with segment seeks. An attached appsrc gets buffers from the next
 * keyframe on, restamped onto its own running time.
 */
#ifndef SP_CLIP_FEED_H
#define SP_CLIP_FEED_H

#include <gst/gst.h>

struct clip_feed;

/* In the default main context: "looped" (loops = count so far) or "error"
 * (detail says why; the feed has stopped feeding). */
typedef void clip_feed_event_fn(const char *event, unsigned loops, const char *detail);

/* NULL and *err set when the file cannot be opened. */
struct clip_feed *clip_feed_start(const char *path, clip_feed_event_fn *cb, GError **err);
/* Feed this appsrc from now on (a ref is taken); NULL detaches. Any thread. */
void clip_feed_attach(struct clip_feed *f, GstElement *appsrc);
void clip_feed_stop(struct clip_feed *f);

#endif
