/* SPDX-License-Identifier: Apache-2.0 */
/*
 * appliance/init.c -- PID 1 of the xmpp-edge appliance.
 *
 * The appliance boots a Debian kernel straight into an initramfs whose only
 * programs are this init and the static xmpp-edge binary.  There is no shell,
 * no udev and no network scripts: everything a boot needs is done here, in
 * this order, from top to bottom:
 *
 *   1. mount /proc, /sys, /dev (devtmpfs), /run and /tmp; take /dev/console;
 *   2. load the kernel modules listed in /etc/modules.load (virtio, the ACPI
 *      power button, evdev, ...), in the dependency order the image build
 *      computed, with finit_module(2);
 *   3. find the data partition by its GPT partition name ("xe-data", seen as
 *      PARTNAME= in /sys/class/block/<dev>/uevent) and mount it on /data;
 *      it holds the daemon's configuration, certificates and state directory;
 *   4. configure the network from /data/etc/network.conf (falling back to the
 *      copy baked into the initramfs): addresses, default routes, DNS servers
 *      and the host name, with rtnetlink -- see net_conf_parse() for the
 *      format;
 *   5. mount the EFI system partition ("xe-esp") on /esp for the daemon's
 *      A/B updates, and learn the booted slot from the kernel's xe.slot=;
 *   6. start `xmpp-edge run -c /data/etc/xmpp-edge.json` as an unprivileged
 *      user, and restart it with exponential backoff when it dies;
 *   7. boot assessment: when the booted entry is on trial (systemd-boot's
 *      boot counter, "+LEFT-DONE" in its file name), bless it -- rename it
 *      to the plain name, as systemd-bless-boot does -- once the daemon
 *      reports READY=1 on the notify socket (sd_notify protocol), or reboot
 *      after xe.ready_timeout_s so that systemd-boot counts the try down
 *      and, with no tries left, boots the previous slot;
 *   8. reap every child (orphans are re-parented to PID 1);
 *   9. power off cleanly on the ACPI power button (read as KEY_POWER from the
 *      /dev/input/event* device named "Power Button"), on SIGTERM, SIGUSR2 or
 *      SIGPWR; reboot on SIGINT (Ctrl-Alt-Del).  Clean means: SIGTERM to the
 *      daemon, up to STOP_TIMEOUT_MS for it to exit, SIGKILL to whatever is
 *      left, sync, unmount /data, then reboot(2).
 *
 * The daemon's life is one explicit state machine (enum svc_state, changed
 * only by svc_enter_state(), which logs every transition).  All events --
 * signals, the backoff/stop timer, power-button key presses -- arrive on file
 * descriptors (signalfd, timerfd, evdev) polled by a single loop.
 *
 * Run as an ordinary process, `init --check-network FILE` parses a network
 * configuration file, prints what it would configure and exits 0 / 1: the
 * image build uses it to refuse a broken network.conf before it is baked in.
 *
 * Build: musl-gcc -static -Os (kernel UAPI headers only; no other library).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/input.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* --- Fixed layout of the appliance (documented in appliance/DEPLOY.md). --- */
#define DATA_PARTNAME      "xe-data"
#define DATA_MOUNT         "/data"
#define DATA_ETC           DATA_MOUNT "/etc"
#define DATA_CERTS         DATA_MOUNT "/certs"
#define DATA_STATE         DATA_MOUNT "/state"
#define NET_CONF_DATA      DATA_ETC "/network.conf"
#define NET_CONF_BUILTIN   "/etc/network.conf"
#define DAEMON_CONF        DATA_ETC "/xmpp-edge.json"
#define DAEMON_BIN         "/bin/xmpp-edge"
#define DAEMON_RUN_DIR     "/run/xmpp-edge"
#define MODULES_LIST       "/etc/modules.load"
#define ESP_PARTNAME       "xe-esp"
#define ESP_MOUNT          "/esp"
#define ESP_ENTRIES        ESP_MOUNT "/loader/entries"
#define ENTRY_PREFIX       "xmpp-edge-"     /* xmpp-edge-GGGGGG-S[+L[-D]].conf */
#define NOTIFY_SOCKET_PATH DAEMON_RUN_DIR "/notify"

/* The unprivileged account the daemon runs as (also in the initramfs'
 * /etc/passwd and the container image). */
#define SERVICE_UID        5269
#define SERVICE_GID        5269

/* --- Timing. --- */
#define DATA_WAIT_MS       10000  /* for the data partition to appear */
#define IFACE_WAIT_MS      5000   /* for a configured interface to appear */
#define POLL_STEP_MS       20
#define BACKOFF_INITIAL_MS 1000   /* first restart delay */
#define BACKOFF_MAX_MS     30000  /* restart delay ceiling */
#define STABLE_RUN_MS      30000  /* a run this long resets the backoff */
#define STOP_TIMEOUT_MS    10000  /* SIGTERM -> SIGKILL grace at shutdown */
#define FATAL_REBOOT_MS    10000
/* A boot on trial reboots when the daemon is not ready this long after
 * init mounted the ESP (xe.ready_timeout_s= overrides, within the
 * bounds). */
#define READY_TIMEOUT_S       120
#define READY_TIMEOUT_MIN_S   5
#define READY_TIMEOUT_MAX_S   3600

/* --- Bounds of the network configuration. --- */
#define NET_MAX_ADDRS      8
#define NET_MAX_ROUTES     4
#define NET_MAX_DNS        3      /* resolv.conf's MAXNS */
#define NET_LINE_MAX       256
#define NET_HOSTNAME_MAX   64
#define MAX_POWER_BUTTONS  4
#define MAX_MODULES        64

/* ------------------------------------------------------------------------ */
/* Logging: one line per event, "[uptime] xe-init: event key=value ...".    */

static void log_line(const char *event, const char *fmt, va_list ap)
{
	struct timespec ts;
	char msg[512];
	int n;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	n = snprintf(msg, sizeof msg, "[%5ld.%03ld] xe-init: %s ",
	    (long)ts.tv_sec, ts.tv_nsec / 1000000L, event);
	if (n < 0 || (size_t)n >= sizeof msg)
		return;
	vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
	/* One write(2) per line, so lines from init and the daemon do not
	 * interleave on the console. */
	n = (int)strlen(msg);
	if ((size_t)n < sizeof msg - 1)
		msg[n++] = '\n';
	(void)!write(STDERR_FILENO, msg, (size_t)n);
}

static void log_event(const char *event, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void log_event(const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(event, fmt, ap);
	va_end(ap);
}

/* PID 1 must never exit (the kernel would panic): an impossible state logs,
 * waits so the message can be read, and reboots. */
static void fatalx(const char *what) __attribute__((noreturn));
static void fatalx(const char *what)
{
	struct timespec d = { FATAL_REBOOT_MS / 1000, 0 };

	log_event("init.fatal", "reason=\"%s\" errno=\"%s\" action=reboot",
	    what, strerror(errno));
	nanosleep(&d, NULL);
	sync();
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

static void sleep_ms(long ms)
{
	struct timespec d = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&d, &d) == -1 && errno == EINTR)
		;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------ */
/* Early mounts and the console.                                           */

static void mount_or_log(const char *src, const char *dst, const char *type,
    unsigned long flags, const char *data)
{
	(void)mkdir(dst, 0755);
	if (mount(src, dst, type, flags, data) == -1 && errno != EBUSY)
		log_event("mount.fail", "target=%s type=%s error=\"%s\"", dst,
		    type, strerror(errno));
}

static void early_mounts(void)
{
	int fd;

	mount_or_log("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	/* The kernel opens /dev/console for init only if the node is in the
	 * initramfs; take it again now that devtmpfs provides it. */
	fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	mount_or_log("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    NULL);
	mount_or_log("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    NULL);
	mount_or_log("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV,
	    "mode=0755,size=16m");
	mount_or_log("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
	    "mode=1777,size=16m");
	mount_or_log("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
	    "mode=0620,ptmxmode=0666");
}

/* ------------------------------------------------------------------------ */
/* Kernel modules.                                                          */

/* Loads each module named in MODULES_LIST (one absolute path per line, in
 * dependency order; written by build-image.sh).  A module already built in or
 * loaded (EEXIST) is fine; any other failure is logged and the boot goes on,
 * since a missing driver for hardware that is absent is not an error. */
static void modules_load(void)
{
	char line[NET_LINE_MAX];
	FILE *f;
	int n = 0, fd;

	f = fopen(MODULES_LIST, "re");
	if (f == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL && n < MAX_MODULES) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] != '/')
			continue;
		fd = open(line, O_RDONLY | O_CLOEXEC);
		if (fd == -1) {
			log_event("module.fail", "path=%s error=\"%s\"", line,
			    strerror(errno));
			continue;
		}
		if (syscall(SYS_finit_module, fd, "", 0) == 0 || errno == EEXIST)
			n++;
		else if (errno == ENODEV)	/* e.g. crc32c-intel without SSE4.2 */
			log_event("module.skip", "path=%s reason=\"no such "
			    "device or CPU feature\"", line);
		else
			log_event("module.fail", "path=%s error=\"%s\"", line,
			    strerror(errno));
		close(fd);
	}
	fclose(f);
	log_event("module.loaded", "count=%d", n);
}

/* ------------------------------------------------------------------------ */
/* The data partition.                                                      */

/* Looks through /sys/class/block/ for the partition whose GPT name is
 * partname; writes "/dev/<name>" to out.  Returns 0 when found. */
static int part_find(const char *partname, char *out, size_t outlen)
{
	char want[64];
	char path[300], buf[1024];
	struct dirent *de;
	DIR *d;
	ssize_t len;
	int fd, found = -1;

	d = opendir("/sys/class/block");
	if (d == NULL)
		return -1;
	while (found == -1 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/sys/class/block/%s/uevent",
		    de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd == -1)
			continue;
		len = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		/* uevent is "KEY=value\n" lines; match the whole line. */
		snprintf(want, sizeof want, "\nPARTNAME=%s\n", partname);
		if (strstr(buf, want) == NULL)
			continue;
		if ((size_t)snprintf(out, outlen, "/dev/%s", de->d_name) <
		    outlen)
			found = 0;
	}
	closedir(d);
	return found;
}

static int data_mount(void)
{
	char dev[300];
	int64_t deadline = now_ms() + DATA_WAIT_MS;

	while (part_find(DATA_PARTNAME, dev, sizeof dev) == -1) {
		if (now_ms() > deadline) {
			log_event("data.missing", "partname=%s waited_ms=%d",
			    DATA_PARTNAME, DATA_WAIT_MS);
			return -1;
		}
		sleep_ms(POLL_STEP_MS);
	}
	(void)mkdir(DATA_MOUNT, 0755);
	/* The kernel replays the ext4 journal on mount; there is no fsck. */
	if (mount(dev, DATA_MOUNT, "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME,
	    NULL) == -1) {
		log_event("data.mount_fail", "dev=%s error=\"%s\"", dev,
		    strerror(errno));
		return -1;
	}
	log_event("data.mounted", "dev=%s target=%s", dev, DATA_MOUNT);
	return 0;
}

static void dir_ensure(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	if (mkdir(path, mode) == -1 && errno != EEXIST) {
		log_event("data.mkdir_fail", "path=%s error=\"%s\"", path,
		    strerror(errno));
		return;
	}
	/* The state directory must stay the service user's even when the
	 * partition was prepared elsewhere with other numeric owners. */
	if (chown(path, uid, gid) == -1 || chmod(path, mode) == -1)
		log_event("data.chown_fail", "path=%s error=\"%s\"", path,
		    strerror(errno));
}

/* ------------------------------------------------------------------------ */
/* The EFI system partition and boot assessment.                            */

/* What this boot is, as far as A/B updates go. */
struct boot_info {
	char slot;                /* 'a' or 'b' from xe.slot=; 0 when absent */
	int have_esp;             /* ESP mounted on ESP_MOUNT */
	int trial;                /* the booted entry carries a boot counter */
	int blessed;              /* ... and init has renamed it away */
	char entry[128];          /* the booted entry's file name */
	long ready_timeout_s;
};

/* Reads xe.slot= and xe.ready_timeout_s= from /proc/cmdline (written by
 * the update into the boot entry's options line). */
static void boot_cmdline(struct boot_info *b)
{
	char buf[4096], *tok, *save, *end;
	ssize_t n;
	long v;
	int fd;

	b->ready_timeout_s = READY_TIMEOUT_S;
	fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (tok = strtok_r(buf, " \n", &save); tok != NULL;
	    tok = strtok_r(NULL, " \n", &save)) {
		if (strcmp(tok, "xe.slot=a") == 0 || strcmp(tok, "xe.slot=b") == 0) {
			b->slot = tok[8];
		} else if (strncmp(tok, "xe.ready_timeout_s=", 19) == 0) {
			errno = 0;
			v = strtol(tok + 19, &end, 10);
			if (errno == 0 && *end == '\0' && end != tok + 19 &&
			    v >= READY_TIMEOUT_MIN_S && v <= READY_TIMEOUT_MAX_S)
				b->ready_timeout_s = v;
			else
				log_event("boot.bad_option", "option=%s "
				    "allowed=%d..%d", tok, READY_TIMEOUT_MIN_S,
				    READY_TIMEOUT_MAX_S);
		}
	}
}

/* 1 when name is an entry of slot: "xmpp-edge-GGGGGG-S.conf" or with a
 * boot counter "xmpp-edge-GGGGGG-S+LEFT[-DONE].conf" (then *plus is the
 * offset of the '+', else 0). */
static int entry_of_slot(const char *name, char slot, size_t *plus)
{
	size_t n = strlen(name), p = sizeof(ENTRY_PREFIX) - 1, i;

	if (strncmp(name, ENTRY_PREFIX, p) != 0 || n < p + 8 + 5 ||
	    strcmp(name + n - 5, ".conf") != 0)
		return 0;
	for (i = 0; i < 6; i++)
		if (name[p + i] < '0' || name[p + i] > '9')
			return 0;
	if (name[p + 6] != '-' || name[p + 7] != slot)
		return 0;
	if (name[p + 8] == '+') {
		*plus = p + 8;
		return 1;
	}
	*plus = 0;
	return p + 8 == n - 5;
}

/* Mounts the ESP for the daemon (its user owns every file on it: the
 * update writes the inactive slot there) and finds the booted entry. */
static void esp_mount(struct boot_info *b)
{
	char dev[300], opts[96];
	struct dirent *de;
	size_t plus;
	DIR *d;

	snprintf(opts, sizeof opts, "uid=%d,gid=%d,fmask=0077,dmask=0077,flush",
	    SERVICE_UID, SERVICE_GID);
	if (part_find(ESP_PARTNAME, dev, sizeof dev) == -1) {
		log_event("esp.missing", "partname=%s", ESP_PARTNAME);
		return;
	}
	(void)mkdir(ESP_MOUNT, 0755);
	/* flush: vfat writes back early, so less is lost to a power cut. */
	if (mount(dev, ESP_MOUNT, "vfat", MS_NOSUID | MS_NODEV | MS_NOEXEC |
	    MS_NOATIME, opts) == -1) {
		log_event("esp.mount_fail", "dev=%s error=\"%s\"", dev,
		    strerror(errno));
		return;
	}
	b->have_esp = 1;
	log_event("esp.mounted", "dev=%s target=%s", dev, ESP_MOUNT);
	if (b->slot == 0) {
		log_event("boot.slot_unknown", "hint=\"no xe.slot= on the "
		    "kernel command line: A/B updates unavailable\"");
		return;
	}
	d = opendir(ESP_ENTRIES);
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (!entry_of_slot(de->d_name, b->slot, &plus) ||
		    strlen(de->d_name) >= sizeof b->entry)
			continue;
		memcpy(b->entry, de->d_name, strlen(de->d_name) + 1);
		b->trial = plus != 0;
	}
	if (d != NULL)
		closedir(d);
	log_event("boot.slot", "slot=%c entry=%s state=%s ready_timeout_s=%ld",
	    b->slot, b->entry[0] ? b->entry : "none",
	    b->trial ? "trial" : "good", b->ready_timeout_s);
}

/* The daemon is ready: the entry on trial becomes the plain name, which
 * systemd-boot boots without counting (systemd-bless-boot's rename). */
static void boot_bless(struct boot_info *b)
{
	char from[300], to[300];
	size_t plus = 0;
	int fd;

	if (!b->trial || b->blessed || !entry_of_slot(b->entry, b->slot, &plus) ||
	    plus == 0)
		return;
	snprintf(from, sizeof from, ESP_ENTRIES "/%s", b->entry);
	snprintf(to, sizeof to, ESP_ENTRIES "/%.*s.conf", (int)plus, b->entry);
	if (rename(from, to) == -1) {
		log_event("boot.bless_fail", "entry=%s error=\"%s\"", b->entry,
		    strerror(errno));
		return;
	}
	fd = open(ESP_ENTRIES, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	b->blessed = 1;
	log_event("boot.blessed", "slot=%c entry=%.*s.conf was=%s", b->slot,
	    (int)plus, b->entry, b->entry);
}

/* The sd_notify socket the daemon reports READY=1 on: a datagram socket
 * only root and the service group may write to. */
static int notify_open(void)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", NOTIFY_SOCKET_PATH);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	(void)unlink(NOTIFY_SOCKET_PATH);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    chown(NOTIFY_SOCKET_PATH, 0, SERVICE_GID) == -1 ||
	    chmod(NOTIFY_SOCKET_PATH, 0620) == -1) {
		log_event("notify.fail", "path=%s error=\"%s\"",
		    NOTIFY_SOCKET_PATH, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

/* Drains the notify socket; 1 when a datagram held the line READY=1.
 * *mainpid: the pid of a MAINPID= line (sd_notify(3)), else left alone:
 * `xmpp-edge upgrade` starts the new daemon as a child of the old one,
 * which tells us it is the one to supervise from now on. */
static int notify_ready_read(int fd, pid_t *mainpid)
{
	char buf[512], *line, *save, *end;
	ssize_t n;
	long pid;
	int ready = 0;

	while ((n = recv(fd, buf, sizeof buf - 1, 0)) > 0) {
		buf[n] = '\0';
		for (line = strtok_r(buf, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			if (strcmp(line, "READY=1") == 0)
				ready = 1;
			if (strncmp(line, "MAINPID=", 8) == 0) {
				pid = strtol(line + 8, &end, 10);
				if (*end == '\0' && pid > 1 && pid <= INT_MAX)
					*mainpid = (pid_t)pid;
			}
		}
	}
	return ready;
}

/* ------------------------------------------------------------------------ */
/* Network configuration file.                                              */

/*
 * network.conf: one directive per line, '#' starts a comment.
 *
 *   hostname NAME
 *   address IFNAME ADDRESS/PREFIX     (IPv4 or IPv6; up to NET_MAX_ADDRS)
 *   gateway ADDRESS [IFNAME]          (default route, one per family;
 *                                      IFNAME required for a link-local v6)
 *   dns ADDRESS                       (up to NET_MAX_DNS, for resolv.conf)
 *
 * Every interface named by an address line is brought up.  The appliance's
 * convention is eth0 = external (federation side), eth1 = internal (towards
 * the XMPP servers behind the proxy); the kernel names virtio and most PCI
 * NICs eth0, eth1, ... in probe order, since there is no udev to rename them.
 */
struct net_addr {
	char ifname[IFNAMSIZ];
	int family;
	unsigned char addr[16];
	int prefix;
};

struct net_route {
	char ifname[IFNAMSIZ];   /* may be empty */
	int family;
	unsigned char gw[16];
};

struct net_conf {
	char hostname[NET_HOSTNAME_MAX + 1];
	struct net_addr addrs[NET_MAX_ADDRS];
	size_t naddrs;
	struct net_route routes[NET_MAX_ROUTES];
	size_t nroutes;
	char dns[NET_MAX_DNS][INET6_ADDRSTRLEN];
	size_t ndns;
};

/* Parses an address into buf (16 bytes); returns its family or -1. */
static int addr_parse(const char *s, unsigned char *buf)
{
	if (inet_pton(AF_INET, s, buf) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, buf) == 1)
		return AF_INET6;
	return -1;
}

static int ifname_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= IFNAMSIZ)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == ':' || s[i] <= ' ')
			return 0;
	return 1;
}

/* Parses one file; on error writes a sentence naming the line to err and
 * returns -1.  nc is filled from scratch. */
static int net_conf_parse(const char *path, struct net_conf *nc, char *err,
    size_t errlen)
{
	char line[NET_LINE_MAX + 2], *tok[4], *save, *p, *slash, *end;
	FILE *f;
	int lineno = 0, ntok, fam;
	long prefix;

	memset(nc, 0, sizeof *nc);
	f = fopen(path, "re");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line longer than %d",
			    path, lineno, NET_LINE_MAX);
			goto fail;
		}
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		ntok = 0;
		for (p = strtok_r(line, " \t\r\n", &save); p != NULL;
		    p = strtok_r(NULL, " \t\r\n", &save)) {
			if (ntok == 4) {
				snprintf(err, errlen, "%s:%d: too many words",
				    path, lineno);
				goto fail;
			}
			tok[ntok++] = p;
		}
		if (ntok == 0)
			continue;

		if (strcmp(tok[0], "hostname") == 0 && ntok == 2) {
			if (strlen(tok[1]) > NET_HOSTNAME_MAX) {
				snprintf(err, errlen, "%s:%d: hostname too long",
				    path, lineno);
				goto fail;
			}
			snprintf(nc->hostname, sizeof nc->hostname, "%s",
			    tok[1]);
		} else if (strcmp(tok[0], "address") == 0 && ntok == 3) {
			struct net_addr *a;

			if (nc->naddrs == NET_MAX_ADDRS) {
				snprintf(err, errlen, "%s:%d: more than %d "
				    "addresses", path, lineno, NET_MAX_ADDRS);
				goto fail;
			}
			a = &nc->addrs[nc->naddrs];
			if (!ifname_valid(tok[1])) {
				snprintf(err, errlen, "%s:%d: bad interface "
				    "name '%s'", path, lineno, tok[1]);
				goto fail;
			}
			slash = strchr(tok[2], '/');
			if (slash == NULL) {
				snprintf(err, errlen, "%s:%d: address needs a "
				    "/prefix", path, lineno);
				goto fail;
			}
			*slash = '\0';
			fam = addr_parse(tok[2], a->addr);
			errno = 0;
			prefix = strtol(slash + 1, &end, 10);
			if (fam == -1 || *end != '\0' || errno != 0 ||
			    end == slash + 1 || prefix < 0 ||
			    prefix > (fam == AF_INET ? 32 : 128)) {
				snprintf(err, errlen, "%s:%d: bad address "
				    "'%s/%s'", path, lineno, tok[2], slash + 1);
				goto fail;
			}
			snprintf(a->ifname, sizeof a->ifname, "%s", tok[1]);
			a->family = fam;
			a->prefix = (int)prefix;
			nc->naddrs++;
		} else if (strcmp(tok[0], "gateway") == 0 &&
		    (ntok == 2 || ntok == 3)) {
			struct net_route *r;
			size_t i;

			if (nc->nroutes == NET_MAX_ROUTES) {
				snprintf(err, errlen, "%s:%d: too many gateways",
				    path, lineno);
				goto fail;
			}
			r = &nc->routes[nc->nroutes];
			fam = addr_parse(tok[1], r->gw);
			if (fam == -1) {
				snprintf(err, errlen, "%s:%d: bad gateway '%s'",
				    path, lineno, tok[1]);
				goto fail;
			}
			for (i = 0; i < nc->nroutes; i++)
				if (nc->routes[i].family == fam) {
					snprintf(err, errlen, "%s:%d: second "
					    "default gateway for one family",
					    path, lineno);
					goto fail;
				}
			if (ntok == 3 && !ifname_valid(tok[2])) {
				snprintf(err, errlen, "%s:%d: bad interface "
				    "name '%s'", path, lineno, tok[2]);
				goto fail;
			}
			r->family = fam;
			if (ntok == 3)
				snprintf(r->ifname, sizeof r->ifname, "%s",
				    tok[2]);
			nc->nroutes++;
		} else if (strcmp(tok[0], "dns") == 0 && ntok == 2) {
			unsigned char tmp[16];

			if (nc->ndns == NET_MAX_DNS) {
				snprintf(err, errlen, "%s:%d: more than %d dns "
				    "servers", path, lineno, NET_MAX_DNS);
				goto fail;
			}
			if (addr_parse(tok[1], tmp) == -1) {
				snprintf(err, errlen, "%s:%d: bad dns server "
				    "'%s'", path, lineno, tok[1]);
				goto fail;
			}
			snprintf(nc->dns[nc->ndns++], INET6_ADDRSTRLEN, "%s",
			    tok[1]);
		} else {
			snprintf(err, errlen, "%s:%d: unknown directive or "
			    "wrong number of words: '%s'", path, lineno, tok[0]);
			goto fail;
		}
	}
	fclose(f);
	return 0;
fail:
	fclose(f);
	return -1;
}

static void net_conf_print(const struct net_conf *nc)
{
	char a[INET6_ADDRSTRLEN];
	size_t i;

	printf("hostname %s\n", nc->hostname[0] ? nc->hostname : "(unset)");
	for (i = 0; i < nc->naddrs; i++) {
		inet_ntop(nc->addrs[i].family, nc->addrs[i].addr, a, sizeof a);
		printf("address %s %s/%d\n", nc->addrs[i].ifname, a,
		    nc->addrs[i].prefix);
	}
	for (i = 0; i < nc->nroutes; i++) {
		inet_ntop(nc->routes[i].family, nc->routes[i].gw, a, sizeof a);
		printf("gateway %s%s%s\n", a, nc->routes[i].ifname[0] ? " " : "",
		    nc->routes[i].ifname);
	}
	for (i = 0; i < nc->ndns; i++)
		printf("dns %s\n", nc->dns[i]);
}

/* ------------------------------------------------------------------------ */
/* rtnetlink.                                                               */

struct nl_req {
	struct nlmsghdr nh;
	union {
		struct ifinfomsg ifi;
		struct ifaddrmsg ifa;
		struct rtmsg rtm;
	} u;
	unsigned char attrs[128];
};

static int nl_attr_add(struct nl_req *req, unsigned short type,
    const void *data, size_t len)
{
	struct rtattr *rta;
	size_t off = NLMSG_ALIGN(req->nh.nlmsg_len);

	if (off + RTA_SPACE(len) > sizeof *req)
		return -1;
	rta = (struct rtattr *)((unsigned char *)req + off);
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	req->nh.nlmsg_len = (unsigned int)(off + RTA_SPACE(len));
	return 0;
}

/* Sends one request and waits for its acknowledgement; returns 0 or the
 * negative errno the kernel answered. */
static int nl_talk(int fd, struct nl_req *req)
{
	static unsigned int seq;
	char buf[4096];
	struct nlmsghdr *nh;
	ssize_t n;

	req->nh.nlmsg_seq = ++seq;
	req->nh.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	if (send(fd, req, req->nh.nlmsg_len, 0) == -1)
		return -errno;
	for (;;) {
		n = recv(fd, buf, sizeof buf, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n);
		    nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_seq != seq)
				continue;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(nh);
				return e->error;
			}
		}
	}
}

static int net_link_up(int fd, int ifindex)
{
	struct nl_req req;

	memset(&req, 0, sizeof req);
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.u.ifi);
	req.nh.nlmsg_type = RTM_NEWLINK;
	req.u.ifi.ifi_family = AF_UNSPEC;
	req.u.ifi.ifi_index = ifindex;
	req.u.ifi.ifi_flags = IFF_UP;
	req.u.ifi.ifi_change = IFF_UP;
	return nl_talk(fd, &req);
}

static int net_addr_add(int fd, int ifindex, const struct net_addr *a)
{
	struct nl_req req;
	size_t alen = a->family == AF_INET ? 4 : 16;
	uint32_t flags = IFA_F_NODAD; /* static: usable at once, no DAD wait */

	memset(&req, 0, sizeof req);
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.u.ifa);
	req.nh.nlmsg_type = RTM_NEWADDR;
	req.nh.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	req.u.ifa.ifa_family = (unsigned char)a->family;
	req.u.ifa.ifa_prefixlen = (unsigned char)a->prefix;
	req.u.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
	req.u.ifa.ifa_index = (unsigned int)ifindex;
	if (nl_attr_add(&req, IFA_LOCAL, a->addr, alen) == -1 ||
	    nl_attr_add(&req, IFA_ADDRESS, a->addr, alen) == -1 ||
	    (a->family == AF_INET6 &&
	    nl_attr_add(&req, IFA_FLAGS, &flags, sizeof flags) == -1))
		return -EMSGSIZE;
	return nl_talk(fd, &req);
}

static int net_route_add(int fd, const struct net_route *r, int ifindex)
{
	struct nl_req req;
	size_t alen = r->family == AF_INET ? 4 : 16;
	uint32_t oif = (uint32_t)ifindex;

	memset(&req, 0, sizeof req);
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.u.rtm);
	req.nh.nlmsg_type = RTM_NEWROUTE;
	req.nh.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	req.u.rtm.rtm_family = (unsigned char)r->family;
	req.u.rtm.rtm_dst_len = 0;            /* default route */
	req.u.rtm.rtm_table = RT_TABLE_MAIN;
	req.u.rtm.rtm_protocol = RTPROT_BOOT;
	req.u.rtm.rtm_scope = RT_SCOPE_UNIVERSE;
	req.u.rtm.rtm_type = RTN_UNICAST;
	if (nl_attr_add(&req, RTA_GATEWAY, r->gw, alen) == -1 ||
	    (ifindex > 0 && nl_attr_add(&req, RTA_OIF, &oif, sizeof oif) == -1))
		return -EMSGSIZE;
	return nl_talk(fd, &req);
}

/* Waits up to IFACE_WAIT_MS (shared by all interfaces) for ifname to exist;
 * returns its index or 0. */
static int net_ifindex_wait(const char *ifname, int64_t deadline)
{
	unsigned int idx;

	while ((idx = if_nametoindex(ifname)) == 0 && now_ms() < deadline)
		sleep_ms(POLL_STEP_MS);
	return (int)idx;
}

static void net_write_resolv(const struct net_conf *nc)
{
	char buf[64 + NET_MAX_DNS * (INET6_ADDRSTRLEN + 16)];
	size_t i, off = 0;
	int fd;

	off += (size_t)snprintf(buf, sizeof buf,
	    "# written at boot by xe-init from network.conf\n");
	for (i = 0; i < nc->ndns; i++)
		off += (size_t)snprintf(buf + off, sizeof buf - off,
		    "nameserver %s\n", nc->dns[i]);
	fd = open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644);
	if (fd == -1 || write(fd, buf, off) != (ssize_t)off)
		log_event("net.resolv_fail", "error=\"%s\"", strerror(errno));
	if (fd != -1)
		close(fd);
}

static void net_setup(void)
{
	struct net_conf nc;
	char err[300], a[INET6_ADDRSTRLEN];
	int builtin = access(NET_CONF_DATA, R_OK) == -1;
	const char *path = builtin ? NET_CONF_BUILTIN : NET_CONF_DATA;
	int64_t deadline;
	size_t i;
	int fd, idx, rc;

	if (net_conf_parse(path, &nc, err, sizeof err) == -1) {
		log_event("net.conf_error", "error=\"%s\"", err);
		if (builtin ||
		    net_conf_parse(NET_CONF_BUILTIN, &nc, err, sizeof err) == -1)
			memset(&nc, 0, sizeof nc);
		else
			log_event("net.conf_fallback", "path=%s",
			    NET_CONF_BUILTIN);
	} else
		log_event("net.conf", "path=%s", path);

	if (nc.hostname[0] != '\0' &&
	    sethostname(nc.hostname, strlen(nc.hostname)) == -1)
		log_event("net.hostname_fail", "error=\"%s\"", strerror(errno));

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd == -1) {
		log_event("net.netlink_fail", "error=\"%s\"", strerror(errno));
		return;
	}
	/* Bringing lo up makes the kernel add 127.0.0.1/8 and ::1. */
	rc = net_link_up(fd, (int)if_nametoindex("lo"));
	if (rc != 0)
		log_event("net.link_fail", "if=lo error=\"%s\"", strerror(-rc));

	deadline = now_ms() + IFACE_WAIT_MS;
	for (i = 0; i < nc.naddrs; i++) {
		const struct net_addr *na = &nc.addrs[i];

		inet_ntop(na->family, na->addr, a, sizeof a);
		idx = net_ifindex_wait(na->ifname, deadline);
		if (idx == 0) {
			log_event("net.if_missing", "if=%s addr=%s/%d",
			    na->ifname, a, na->prefix);
			continue;
		}
		if ((rc = net_link_up(fd, idx)) != 0 ||
		    (rc = net_addr_add(fd, idx, na)) != 0)
			log_event("net.addr_fail", "if=%s addr=%s/%d error=\"%s\"",
			    na->ifname, a, na->prefix, strerror(-rc));
		else
			log_event("net.addr", "if=%s addr=%s/%d", na->ifname, a,
			    na->prefix);
	}
	for (i = 0; i < nc.nroutes; i++) {
		const struct net_route *r = &nc.routes[i];

		idx = r->ifname[0] ? (int)if_nametoindex(r->ifname) : 0;
		inet_ntop(r->family, r->gw, a, sizeof a);
		if ((rc = net_route_add(fd, r, idx)) != 0)
			log_event("net.route_fail", "gateway=%s error=\"%s\"", a,
			    strerror(-rc));
		else
			log_event("net.route", "default_via=%s", a);
	}
	close(fd);
	net_write_resolv(&nc);
}

/* ------------------------------------------------------------------------ */
/* Power button.                                                            */

/* Opens every evdev device whose name is "Power Button" (ACPI exposes one
 * for the fixed-feature button and one for the PNP0C0C device); returns how
 * many fds were stored. */
static int power_buttons_open(int *fds, int max)
{
	char path[300], name[64];
	struct dirent *de;
	DIR *d;
	int n = 0, fd;

	d = opendir("/dev/input");
	if (d == NULL)
		return 0;
	while (n < max && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "event", 5) != 0)
			continue;
		snprintf(path, sizeof path, "/dev/input/%s", de->d_name);
		fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd == -1)
			continue;
		memset(name, 0, sizeof name);
		if (ioctl(fd, EVIOCGNAME(sizeof name - 1), name) >= 0 &&
		    strcmp(name, "Power Button") == 0) {
			log_event("power.button", "dev=%s", path);
			fds[n++] = fd;
		} else
			close(fd);
	}
	closedir(d);
	return n;
}

/* Drains one evdev fd; returns 1 when KEY_POWER was pressed. */
static int power_button_pressed(int fd)
{
	struct input_event ev[16];
	ssize_t n;
	size_t i;
	int pressed = 0;

	while ((n = read(fd, ev, sizeof ev)) > 0)
		for (i = 0; i < (size_t)n / sizeof ev[0]; i++)
			if (ev[i].type == EV_KEY && ev[i].code == KEY_POWER &&
			    ev[i].value == 1)
				pressed = 1;
	return pressed;
}

/* ------------------------------------------------------------------------ */
/* The supervised daemon.                                                   */

enum svc_state {
	SVC_STOPPED,    /* not started yet, or no configuration to start with */
	SVC_RUNNING,    /* child alive */
	SVC_BACKOFF,    /* child died; restart timer armed */
	SVC_STOPPING,   /* shutdown: SIGTERM sent, waiting for exit */
	SVC_DONE,       /* shutdown: child gone, nothing will start it again */
};

static const char *svc_state_name[] = {
	[SVC_STOPPED] = "stopped",
	[SVC_RUNNING] = "running",
	[SVC_BACKOFF] = "backoff",
	[SVC_STOPPING] = "stopping",
	[SVC_DONE] = "done",
};

enum halt_action { HALT_NONE, HALT_POWEROFF, HALT_REBOOT };

struct init_ctx {
	enum svc_state state;
	pid_t pid;
	int64_t started_ms;
	long backoff_ms;
	unsigned restarts;
	enum halt_action halt;
	int sigfd;
	int timerfd;
	int buttons[MAX_POWER_BUTTONS];
	int nbuttons;
	int have_data;
	int notifyfd;           /* -1 without */
	int trialfd;            /* armed while the boot is on trial */
	struct boot_info boot;
};

static void svc_enter_state(struct init_ctx *c, enum svc_state to)
{
	log_event("svc.state", "from=%s to=%s pid=%ld",
	    svc_state_name[c->state], svc_state_name[to], (long)c->pid);
	c->state = to;
}

static void timer_arm(struct init_ctx *c, long ms)
{
	struct itimerspec its;

	memset(&its, 0, sizeof its);
	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (ms % 1000) * 1000000L;
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	if (timerfd_settime(c->timerfd, 0, &its, NULL) == -1)
		fatalx("timerfd_settime");
}

static void timer_disarm(struct init_ctx *c)
{
	struct itimerspec its;

	memset(&its, 0, sizeof its);
	(void)timerfd_settime(c->timerfd, 0, &its, NULL);
}

static void svc_start(struct init_ctx *c)
{
	static char *const argv[] = { "xmpp-edge", "run", "-c", DAEMON_CONF,
	    NULL };
	/* The daemon finds the ESP and its slot here (appliance_control.c)
	 * and reports readiness on NOTIFY_SOCKET. */
	char slot_env[] = "XMPP_EDGE_SLOT=?";
	char *envp[] = { "PATH=/bin", "HOME=" DATA_STATE, "LANG=C", NULL, NULL,
	    NULL, NULL };
	size_t ne = 3;
	sigset_t none;
	pid_t pid;

	if (c->notifyfd != -1)
		envp[ne++] = "NOTIFY_SOCKET=" NOTIFY_SOCKET_PATH;
	if (c->boot.have_esp) {
		envp[ne++] = "XMPP_EDGE_ESP=" ESP_MOUNT;
		if (c->boot.slot != 0) {
			slot_env[sizeof slot_env - 2] = c->boot.slot;
			envp[ne++] = slot_env;
		}
	}
	pid = fork();
	if (pid == -1) {
		log_event("svc.fork_fail", "error=\"%s\"", strerror(errno));
		c->pid = 0;
		svc_enter_state(c, SVC_BACKOFF);
		timer_arm(c, c->backoff_ms);
		return;
	}
	if (pid == 0) {
		/* Child: undo init's signal mask, leave init's session, drop
		 * every privilege, then become the daemon. */
		int nullfd;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setsid();
		/* stdout/stderr stay on the console (the daemon's log). */
		nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (nullfd >= 0) {
			dup2(nullfd, STDIN_FILENO);
			if (nullfd != STDIN_FILENO)
				close(nullfd);
		}
		if (chdir(DATA_STATE) == -1)
			(void)!chdir("/");
		if (setgroups(0, NULL) == -1 || setgid(SERVICE_GID) == -1 ||
		    setuid(SERVICE_UID) == -1) {
			log_event("svc.privdrop_fail", "error=\"%s\"",
			    strerror(errno));
			_exit(127);
		}
		execve(DAEMON_BIN, argv, envp);
		log_event("svc.exec_fail", "path=%s error=\"%s\"", DAEMON_BIN,
		    strerror(errno));
		_exit(127);
	}
	c->pid = pid;
	c->started_ms = now_ms();
	svc_enter_state(c, SVC_RUNNING);
}

/* The supervised child exited: restart later, or finish a shutdown. */
static void svc_exited(struct init_ctx *c, int status)
{
	int64_t ran_ms = now_ms() - c->started_ms;

	if (WIFEXITED(status))
		log_event("svc.exit", "pid=%ld status=%d ran_ms=%lld",
		    (long)c->pid, WEXITSTATUS(status), (long long)ran_ms);
	else
		log_event("svc.exit", "pid=%ld signal=%d ran_ms=%lld",
		    (long)c->pid, WTERMSIG(status), (long long)ran_ms);
	c->pid = 0;
	if (c->state == SVC_STOPPING) {
		timer_disarm(c);
		svc_enter_state(c, SVC_DONE);
		return;
	}
	/* A run that lasted was a healthy one: start the backoff afresh. */
	if (ran_ms >= STABLE_RUN_MS)
		c->backoff_ms = BACKOFF_INITIAL_MS;
	c->restarts++;
	log_event("svc.restart_scheduled", "in_ms=%ld restarts=%u",
	    c->backoff_ms, c->restarts);
	svc_enter_state(c, SVC_BACKOFF);
	timer_arm(c, c->backoff_ms);
	c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    c->backoff_ms * 2;
}

static void halt_request(struct init_ctx *c, enum halt_action a,
    const char *why)
{
	if (c->halt != HALT_NONE)
		return;
	c->halt = a;
	log_event("init.halt", "action=%s reason=%s",
	    a == HALT_REBOOT ? "reboot" : "poweroff", why);
	switch (c->state) {
	case SVC_RUNNING:
		kill(c->pid, SIGTERM);
		svc_enter_state(c, SVC_STOPPING);
		timer_arm(c, STOP_TIMEOUT_MS);
		break;
	case SVC_STOPPED:
	case SVC_BACKOFF:
		timer_disarm(c);
		svc_enter_state(c, SVC_DONE);
		break;
	case SVC_STOPPING:
	case SVC_DONE:
		break;
	}
}

static void reap(struct init_ctx *c)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (pid == c->pid)
			svc_exited(c, status);
}

static void on_signal(struct init_ctx *c)
{
	struct signalfd_siginfo si;

	while (read(c->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(c);
			break;
		case SIGTERM:
		case SIGUSR2:
		case SIGPWR:
			halt_request(c, HALT_POWEROFF, strsignal((int)si.ssi_signo));
			break;
		case SIGINT:      /* Ctrl-Alt-Del, after RB_DISABLE_CAD */
			halt_request(c, HALT_REBOOT, "ctrl-alt-del");
			break;
		case SIGHUP:      /* passed on: the daemon's reload signal */
			if (c->state == SVC_RUNNING)
				kill(c->pid, SIGHUP);
			break;
		}
	}
}

static void on_timer(struct init_ctx *c)
{
	uint64_t ticks;

	(void)!read(c->timerfd, &ticks, sizeof ticks);
	switch (c->state) {
	case SVC_BACKOFF:
		svc_start(c);
		break;
	case SVC_STOPPING:
		log_event("svc.stop_timeout", "pid=%ld after_ms=%d action=kill",
		    (long)c->pid, STOP_TIMEOUT_MS);
		kill(c->pid, SIGKILL);
		break;
	default:
		break;
	}
}

/* Everything but PID 1 is told to go, then killed; filesystems are synced
 * and /data unmounted (or at least remounted read-only). */
static void __attribute__((noreturn)) halt_finish(struct init_ctx *c)
{
	int i;

	kill(-1, SIGTERM);
	for (i = 0; i < 50 && waitpid(-1, NULL, WNOHANG) >= 0; i++)
		sleep_ms(POLL_STEP_MS);
	kill(-1, SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	sync();
	if (c->boot.have_esp && umount2(ESP_MOUNT, 0) == -1)
		(void)mount(NULL, ESP_MOUNT, NULL, MS_REMOUNT | MS_RDONLY, NULL);
	if (c->have_data) {
		if (umount2(DATA_MOUNT, 0) == -1) {
			log_event("data.umount_fail", "error=\"%s\" "
			    "action=remount_ro", strerror(errno));
			(void)mount(NULL, DATA_MOUNT, NULL,
			    MS_REMOUNT | MS_RDONLY, NULL);
		} else
			log_event("data.unmounted", "target=%s", DATA_MOUNT);
	}
	sync();
	log_event("init.halt_now", "action=%s",
	    c->halt == HALT_REBOOT ? "reboot" : "poweroff");
	reboot(c->halt == HALT_REBOOT ? RB_AUTOBOOT : RB_POWER_OFF);
	fatalx("reboot(2) returned");
}

static void loop(struct init_ctx *c)
{
	struct pollfd pfd[4 + MAX_POWER_BUTTONS];
	int i, n;
	uint64_t ticks;

	for (;;) {
		if (c->state == SVC_DONE)
			halt_finish(c);
		pfd[0].fd = c->sigfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = c->timerfd;
		pfd[1].events = POLLIN;
		for (i = 0; i < c->nbuttons; i++) {
			pfd[2 + i].fd = c->buttons[i];
			pfd[2 + i].events = POLLIN;
		}
		/* Negative fds are skipped by poll(2). */
		pfd[2 + c->nbuttons].fd = c->notifyfd;
		pfd[2 + c->nbuttons].events = POLLIN;
		pfd[3 + c->nbuttons].fd = c->trialfd;
		pfd[3 + c->nbuttons].events = POLLIN;
		n = poll(pfd, (nfds_t)(4 + c->nbuttons), -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatalx("poll");
		}
		if (pfd[0].revents & POLLIN)
			on_signal(c);
		if (pfd[1].revents & POLLIN)
			on_timer(c);
		for (i = 0; i < c->nbuttons; i++)
			if ((pfd[2 + i].revents & POLLIN) &&
			    power_button_pressed(c->buttons[i]))
				halt_request(c, HALT_POWEROFF, "power-button");
		if (pfd[2 + c->nbuttons].revents & POLLIN) {
			pid_t mainpid = 0;
			int ready = notify_ready_read(c->notifyfd, &mainpid);

			/* Only while running: the old daemon, which started
			 * the new one, exits after this, and its exit is then
			 * no reason to restart (reap() only watches c->pid). */
			if (mainpid > 0 && mainpid != c->pid && c->state == SVC_RUNNING) {
				log_event("svc.mainpid", "from=%ld to=%ld reason=upgrade",
				    (long)c->pid, (long)mainpid);
				c->pid = mainpid;
			}
			if (ready) {
				log_event("svc.ready", "pid=%ld", (long)c->pid);
				boot_bless(&c->boot);
			}
		}
		if (pfd[3 + c->nbuttons].revents & POLLIN) {
			(void)!read(c->trialfd, &ticks, sizeof ticks);
			if (c->boot.trial && !c->boot.blessed) {
				/* systemd-boot counts this try as failed;
				 * with none left it boots the other slot. */
				log_event("boot.trial_failed", "slot=%c entry=%s "
				    "reason=\"daemon not ready after %ld s\"",
				    c->boot.slot, c->boot.entry,
				    c->boot.ready_timeout_s);
				halt_request(c, HALT_REBOOT, "not-ready-on-trial");
			}
		}
	}
}

static int check_network(const char *path)
{
	struct net_conf nc;
	char err[300];

	if (net_conf_parse(path, &nc, err, sizeof err) == -1) {
		fprintf(stderr, "xe-init: %s\n", err);
		return 1;
	}
	net_conf_print(&nc);
	return 0;
}

int main(int argc, char **argv)
{
	struct init_ctx c;
	sigset_t set;

	if (getpid() != 1) {
		if (argc == 3 && strcmp(argv[1], "--check-network") == 0)
			return check_network(argv[2]);
		fprintf(stderr, "usage: init --check-network FILE "
		    "(as PID 1 it boots the appliance)\n");
		return 2;
	}

	memset(&c, 0, sizeof c);
	c.state = SVC_STOPPED;
	c.backoff_ms = BACKOFF_INITIAL_MS;
	umask(022);

	/* Block the signals we handle before anything can send them; they
	 * are read from the signalfd.  Ctrl-Alt-Del becomes SIGINT. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGPWR);
	sigprocmask(SIG_BLOCK, &set, NULL);
	c.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	c.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (c.sigfd == -1 || c.timerfd == -1)
		fatalx("signalfd/timerfd");
	reboot(RB_DISABLE_CAD);

	early_mounts();
	log_event("init.start", "pid=1");
	modules_load();
	c.nbuttons = power_buttons_open(c.buttons, MAX_POWER_BUTTONS);
	if (c.nbuttons == 0)
		log_event("power.no_button", "hint=\"SIGTERM to PID 1 still "
		    "powers off\"");

	c.have_data = data_mount() == 0;
	if (c.have_data) {
		dir_ensure(DATA_ETC, 0755, 0, 0);
		dir_ensure(DATA_CERTS, 0750, SERVICE_UID, SERVICE_GID);
		dir_ensure(DATA_STATE, 0700, SERVICE_UID, SERVICE_GID);
	}
	dir_ensure(DAEMON_RUN_DIR, 0750, SERVICE_UID, SERVICE_GID);
	boot_cmdline(&c.boot);
	esp_mount(&c.boot);
	c.notifyfd = notify_open();
	c.trialfd = -1;
	if (c.boot.trial) {
		struct itimerspec its;

		memset(&its, 0, sizeof its);
		its.it_value.tv_sec = c.boot.ready_timeout_s;
		c.trialfd = timerfd_create(CLOCK_MONOTONIC,
		    TFD_NONBLOCK | TFD_CLOEXEC);
		if (c.trialfd == -1 ||
		    timerfd_settime(c.trialfd, 0, &its, NULL) == -1)
			log_event("boot.trial_timer_fail", "error=\"%s\"",
			    strerror(errno));
	}
	net_setup();

	if (c.have_data && access(DAEMON_CONF, R_OK) == 0)
		svc_start(&c);
	else
		log_event("svc.not_started", "reason=\"no %s\"", DAEMON_CONF);
	loop(&c);
	return 0;
}
