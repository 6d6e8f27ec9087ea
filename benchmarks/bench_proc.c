/*
 * bench_proc.c: child processes of a benchmark and /proc readings (see
 * bench_proc.h).
 */
#include "bench_proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

pid_t proc_spawn(char *const argv[], int out_fd, const char *log_path, int cpu)
{
	pid_t parent = getpid(), pid = fork();

	if (pid != 0)
		return pid;
	{
		int lf = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		cpu_set_t set;

		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127); /* we died before the prctl: nobody will reap it */
		if (lf >= 0) {
			dup2(lf, 2);
			if (out_fd < 0)
				dup2(lf, 1);
		}
		if (out_fd >= 0)
			dup2(out_fd, 1);
		if (cpu != PROC_CPU_INHERIT) {
			CPU_ZERO(&set);
			if (cpu >= 0) {
				CPU_SET(cpu, &set);
			} else {
				for (long c = 0; c < sysconf(_SC_NPROCESSORS_ONLN) && c < CPU_SETSIZE; c++)
					CPU_SET((int)c, &set);
			}
			(void)sched_setaffinity(0, sizeof(set), &set);
		}
		execv(argv[0], argv);
		_exit(127);
	}
}

void proc_describe_status(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "status 0x%x", st);
}

bool proc_exited(pid_t pid, char *buf, size_t len)
{
	int st;

	if (pid <= 0 || waitpid(pid, &st, WNOHANG) != pid)
		return false;
	proc_describe_status(st, buf, len);
	return true;
}

void proc_stop(pid_t pid, unsigned ms, char *buf, size_t len)
{
	int st;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (unsigned waited = 0; waited < ms; waited += 10) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			proc_describe_status(st, buf, len);
			return;
		}
		bench_sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	snprintf(buf, len, "did not stop within %u ms of SIGTERM; killed", ms);
}

bool proc_ended_cleanly(const char *status)
{
	return !strncmp(status, "exit 0", 6) || strstr(status, "signal 15");
}

double proc_cpu_s(pid_t pid)
{
	char path[64], buf[2048];
	unsigned long ut, st;
	ssize_t n;
	int fd;
	char *p;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* comm may hold spaces and parentheses: fields restart after the last ')'. */
	if (!(p = strrchr(buf, ')')))
		return -1;
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

long proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6)) {
			kib = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kib;
}

double proc_thread_cpu_s(clockid_t cid)
{
	struct timespec ts;

	if (clock_gettime(cid, &ts) < 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void proc_remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX];

	if (!d)
		return;
	while ((e = readdir(d))) {
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= (int)sizeof(p))
			continue;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			proc_remove_tree(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

void proc_log_tail(const char *path, char *out, size_t len)
{
	ssize_t n;
	off_t size;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	out[0] = 0;
	if (fd < 0 || len < 2) {
		if (fd >= 0)
			close(fd);
		return;
	}
	size = lseek(fd, 0, SEEK_END);
	lseek(fd, size > (off_t)len - 1 ? size - (off_t)len + 1 : 0, SEEK_SET);
	n = read(fd, out, len - 1);
	close(fd);
	if (n <= 0)
		return;
	while (n > 0 && out[n - 1] == '\n')
		n--;
	out[n] = 0;
	for (ssize_t i = 0; i < n; i++)
		if (out[i] == '\n')
			out[i] = '|';
}
