/* SPDX-License-Identifier: Apache-2.0 */
/*
 * carved: the carve daemon. Parses flags, opens the state, bootstraps the built-in template and
 * the first provider admin, reconciles servers with what really runs, serves the REST API until
 * SIGTERM/SIGINT, then stops serving and exits, leaving every server running (monitors are not
 * its children).
 */
#define LOG_DOMAIN "carved"
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fd-util.h"
#include "base/log.h"
#include "base/parse-util.h"
#include "base/string-util.h"
#include "carve-config.h"
#include "ct/ct.h"
#include "daemon/api.h"
#include "daemon/backups.h"
#include "daemon/networks.h"
#include "daemon/servers.h"
#include "daemon/tasks.h"

static void help(void)
{
	printf("Usage: carved [OPTIONS]\n"
	       "\n"
	       "The carve daemon: serves the REST API and runs virtual servers.\n"
	       "\n"
	       "  --state-dir DIR      database, templates and pools (default /var/lib/carve)\n"
	       "  --run-dir DIR        sockets and per-server runtime files (default /run/carve)\n"
	       "  --listen ADDR:PORT   TCP listener, or 'none' (default 127.0.0.1:8006)\n"
	       "  --cgroup-root DIR    cgroup filesystem root, or 'none' (default /sys/fs/cgroup)\n"
	       "  --cgroup-prefix NAME carve's parent cgroup (default carve)\n"
	       "  --uid-base N         first host uid given to tenants (default 1000000)\n"
	       "  --vm-uid-base N      first of 65536 host uids, one per VM, that QEMU runs as\n"
	       "                       (default: uid-base - 65536)\n"
	       "  --monitor PATH       the carve-monitor binary (default: beside carved)\n"
	       "  --session-ttl SECS   lifetime of a login session (default 43200)\n"
	       "  --stop-timeout SECS  time a server gets to power off before SIGKILL (default 10)\n"
	       "  --pool-driver NAME   reflink (default: a sparse XFS image, loop-mounted, holding\n"
	       "                       thin ext4 volumes) or dir (plain directory copies)\n"
	       "  --pool-size SIZE     size of the embedded pool image (default 64G, sparse)\n"
	       "  --overcommit RATIO   provisioned disk may reach pool size * RATIO (default 2.0)\n"
	       "  --fill-threshold PCT a pool.fill event when a pool is this full (default 80)\n"
	       "  --lxcfs PATH         lxcfs binary for servers' /proc views, or 'none'\n"
	       "                       (default /usr/bin/lxcfs; mounted at <run-dir>/lxcfs)\n"
	       "  --backup-dir DIR     the default backup store (default <state-dir>/backups)\n"
	       "  --backup-encrypt yes|no  encrypt each tenant's backups in the default store\n"
	       "                       with its own key (default yes)\n"
	       "  --backup-min-interval SECS  shortest '@every' backup schedule (default 300)\n"
	       "  --trim-interval SECS  trim every pool's volumes and the pool this often, giving\n"
	       "                      freed space back to the host (default 21600; 0: never)\n"
	       "  --uplink IFACE       the interface towards the internet: enables tenant networks,\n"
	       "                       masquerade and published ports (default: none, networking\n"
	       "                       disabled)\n"
	       "  --network-range CIDR provider range tenant subnets are allocated from\n"
	       "                       (default 10.128.0.0/9)\n"
	       "  --subnet-size LEN    prefix length of an allocated subnet (default 24)\n"
	       "  --public-address IP  where published ports listen (default: the uplink's address)\n"
	       "  --dns-upstream IP    where the networks' dnsmasq forward other names (default none)\n"
	       "  --net-prefix NAME    prefix of host links and nftables tables (default cv)\n"
	       "  --max-ports N        published ports per tenant (default 16)\n"
	       "  --log-level LEVEL    error, warning, info or debug (default info)\n"
	       "  -h, --help           show this help\n"
	       "  --version            show the version\n"
	       "\n"
	       "The unix socket is <run-dir>/carved.sock (root only; root is provider admin there).\n");
}

static int find_monitor(struct daemon *d)
{
	char exe[PATH_MAX], *dir;
	const char *env = getenv("CARVE_MONITOR");
	const char *candidates[3];
	char a[PATH_MAX + 32], b[PATH_MAX + 32];
	ssize_t n;

	if (d->monitor_binary[0])
		return access(d->monitor_binary, X_OK) < 0 ? -errno : 0;
	if (env && *env)
		return strscpy(d->monitor_binary, env, sizeof(d->monitor_binary));
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = '\0';
	dir = dirname(exe);
	snprintf(a, sizeof(a), "%s/carve-monitor", dir);
	snprintf(b, sizeof(b), "%s/../monitor/carve-monitor", dir);
	candidates[0] = a;
	candidates[1] = b;
	candidates[2] = CARVE_LIBEXECDIR "/carve-monitor";
	for (size_t i = 0; i < ELEMENTSOF(candidates); i++)
		if (access(candidates[i], X_OK) == 0) {
			if (!realpath(candidates[i], d->monitor_binary))
				return -errno;
			return 0;
		}
	return -ENOENT;
}

static int bootstrap_admin(struct daemon *d)
{
	struct carve_error err = CARVE_ERROR_INIT;
	struct db_user **l = NULL, u = {0};
	cleanup_free char *hash = NULL;
	char password[25];
	size_t n = 0;
	int r;

	r = db_user_list(d->db, "", &l, &n, &err);
	if (r < 0)
		return log_error_errno(r, "%s", err.msg);
	db_user_list_free(l, n);
	if (n > 0)
		return 0;
	r = auth_password_generate(password, sizeof(password));
	if (r >= 0)
		r = auth_password_hash(password, &hash, &err);
	if (r < 0)
		return log_error_errno(r, "bootstrap admin: %s", err.msg);
	strscpy(u.name, "admin", sizeof(u.name));
	u.role = DB_ROLE_ADMIN;
	u.password_hash = hash;
	r = db_user_create(d->db, &u, &err);
	if (r < 0)
		return log_error_errno(r, "bootstrap admin: %s", err.msg);
	printf("carved: created the provider admin 'admin' with password: %s\n"
	       "carved: this password is shown only once; change it with 'carve user passwd'\n",
	       password);
	fflush(stdout);
	explicit_bzero(password, sizeof(password));
	return 0;
}

static int lock_run_dir(const struct daemon *d)
{
	char path[PATH_MAX + 16], pid[32];
	int fd;

	snprintf(path, sizeof(path), "%s/carved.lock", d->run_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int r = -errno;
		safe_close(fd);
		return r;
	}
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == 0)
		(void)loop_write(fd, pid, strlen(pid));
	return fd; /* held until exit */
}

enum {
	OPT_STATE_DIR = 256,
	OPT_RUN_DIR,
	OPT_LISTEN,
	OPT_CGROUP_ROOT,
	OPT_CGROUP_PREFIX,
	OPT_UID_BASE,
	OPT_VM_UID_BASE,
	OPT_MONITOR,
	OPT_SESSION_TTL,
	OPT_STOP_TIMEOUT,
	OPT_LOG_LEVEL,
	OPT_POOL_DRIVER,
	OPT_POOL_SIZE,
	OPT_OVERCOMMIT,
	OPT_FILL_THRESHOLD,
	OPT_VERSION,
	OPT_LXCFS,
	OPT_BACKUP_DIR,
	OPT_BACKUP_ENCRYPT,
	OPT_BACKUP_MIN_INTERVAL,
	OPT_TRIM_INTERVAL,
	OPT_UPLINK,
	OPT_NETWORK_RANGE,
	OPT_SUBNET_SIZE,
	OPT_PUBLIC_ADDRESS,
	OPT_DNS_UPSTREAM,
	OPT_NET_PREFIX,
	OPT_MAX_PORTS,
};

static struct daemon_net_config net_cfg = {
	.range = "10.128.0.0/9",
	.subnet_prefixlen = 24,
	.prefix = "cv",
	.max_ports = 16,
};

static int parse_args(int argc, char **argv, struct daemon *d)
{
	static const struct option opts[] = {
		{"state-dir", required_argument, NULL, OPT_STATE_DIR},
		{"run-dir", required_argument, NULL, OPT_RUN_DIR},
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"cgroup-root", required_argument, NULL, OPT_CGROUP_ROOT},
		{"cgroup-prefix", required_argument, NULL, OPT_CGROUP_PREFIX},
		{"uid-base", required_argument, NULL, OPT_UID_BASE},
		{"vm-uid-base", required_argument, NULL, OPT_VM_UID_BASE},
		{"monitor", required_argument, NULL, OPT_MONITOR},
		{"session-ttl", required_argument, NULL, OPT_SESSION_TTL},
		{"stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT},
		{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
		{"pool-driver", required_argument, NULL, OPT_POOL_DRIVER},
		{"pool-size", required_argument, NULL, OPT_POOL_SIZE},
		{"overcommit", required_argument, NULL, OPT_OVERCOMMIT},
		{"fill-threshold", required_argument, NULL, OPT_FILL_THRESHOLD},
		{"backup-dir", required_argument, NULL, OPT_BACKUP_DIR},
		{"backup-encrypt", required_argument, NULL, OPT_BACKUP_ENCRYPT},
		{"backup-min-interval", required_argument, NULL, OPT_BACKUP_MIN_INTERVAL},
		{"trim-interval", required_argument, NULL, OPT_TRIM_INTERVAL},
		{"uplink", required_argument, NULL, OPT_UPLINK},
		{"network-range", required_argument, NULL, OPT_NETWORK_RANGE},
		{"subnet-size", required_argument, NULL, OPT_SUBNET_SIZE},
		{"public-address", required_argument, NULL, OPT_PUBLIC_ADDRESS},
		{"dns-upstream", required_argument, NULL, OPT_DNS_UPSTREAM},
		{"net-prefix", required_argument, NULL, OPT_NET_PREFIX},
		{"max-ports", required_argument, NULL, OPT_MAX_PORTS},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, OPT_VERSION},
		{"lxcfs", required_argument, NULL, OPT_LXCFS},
		{},
	};
	struct carve_error err = CARVE_ERROR_INIT;
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (c) {
		case OPT_STATE_DIR:
		case OPT_RUN_DIR:
		case OPT_MONITOR: {
			char *dst = c == OPT_STATE_DIR ? d->state_dir
				    : c == OPT_RUN_DIR ? d->run_dir
						       : d->monitor_binary;
			if (optarg[0] != '/' || strscpy(dst, optarg, PATH_MAX) < 0) {
				fprintf(stderr, "carved: %s: must be an absolute path\n",
					argv[optind - 1]);
				return -EINVAL;
			}
			break;
		}
		case OPT_LXCFS:
			if (streq(optarg, "none"))
				d->lxcfs_binary[0] = '\0';
			else if (optarg[0] != '/' ||
				 strscpy(d->lxcfs_binary, optarg, sizeof(d->lxcfs_binary)) < 0) {
				fprintf(stderr, "carved: --lxcfs: an absolute path or 'none'\n");
				return -EINVAL;
			}
			break;
		case OPT_LISTEN:
			if (streq(optarg, "none"))
				d->listen[0] = '\0';
			else if (strscpy(d->listen, optarg, sizeof(d->listen)) < 0)
				goto bad;
			break;
		case OPT_CGROUP_ROOT:
			if (streq(optarg, "none"))
				d->cgroup_root[0] = '\0';
			else if (strscpy(d->cgroup_root, optarg, sizeof(d->cgroup_root)) < 0)
				goto bad;
			break;
		case OPT_CGROUP_PREFIX:
			if (parse_name(optarg, "cgroup prefix", &err) < 0) {
				fprintf(stderr, "carved: --cgroup-prefix: %s\n", err.msg);
				return -EINVAL;
			}
			strscpy(d->cgroup_prefix, optarg, sizeof(d->cgroup_prefix));
			break;
		case OPT_UID_BASE:
			if (parse_uint64(optarg, 65536, UINT32_MAX - 65536ULL * 4096, &v, &err) < 0)
				goto bad_num;
			d->uid_base = (uint32_t)v;
			break;
		case OPT_VM_UID_BASE:
			if (parse_uint64(optarg, 65536, UINT32_MAX - 65536ULL, &v, &err) < 0)
				goto bad_num;
			d->vm_uid_base = (uint32_t)v;
			break;
		case OPT_SESSION_TTL:
			if (parse_uint64(optarg, 60, 86400 * 366, &v, &err) < 0)
				goto bad_num;
			d->session_ttl = (int64_t)v;
			break;
		case OPT_STOP_TIMEOUT:
			if (parse_uint64(optarg, 1, 3600, &v, &err) < 0)
				goto bad_num;
			d->stop_timeout = (int)v;
			break;
		case OPT_POOL_DRIVER:
			if (!streq(optarg, "reflink") && !streq(optarg, "dir")) {
				fprintf(stderr, "carved: --pool-driver '%s': use reflink or dir\n",
					optarg);
				return -EINVAL;
			}
			strscpy(d->pool_driver, optarg, sizeof(d->pool_driver));
			break;
		case OPT_POOL_SIZE:
			if (parse_size(optarg, &v, &err) < 0 || v < (300ULL << 20)) {
				fprintf(stderr, "carved: --pool-size: %s\n",
					err.msg[0] ? err.msg : "at least 300M");
				return -EINVAL;
			}
			d->pool_size = v;
			break;
		case OPT_OVERCOMMIT: {
			char *end;
			double x = strtod(optarg, &end);
			if (*end != '\0' || !(x > 0.0 && x <= 100.0)) {
				fprintf(stderr,
					"carved: --overcommit '%s': a ratio above 0 and at most 100\n",
					optarg);
				return -EINVAL;
			}
			d->overcommit = x;
			break;
		}
		case OPT_FILL_THRESHOLD:
			if (parse_uint64(optarg, 1, 100, &v, &err) < 0)
				goto bad_num;
			d->fill_threshold = (double)v / 100.0;
			break;
		case OPT_LOG_LEVEL:
			if (log_level_from_string(optarg) < 0) {
				fprintf(stderr,
					"carved: --log-level '%s': use error, warning, info or debug\n",
					optarg);
				return -EINVAL;
			}
			log_set_level(log_level_from_string(optarg));
			break;
		case OPT_BACKUP_DIR:
			if (optarg[0] != '/' || strscpy(d->backup_dir, optarg, PATH_MAX) < 0) {
				fprintf(stderr, "carved: --backup-dir: must be an absolute path\n");
				return -EINVAL;
			}
			break;
		case OPT_BACKUP_ENCRYPT:
			if (!streq(optarg, "yes") && !streq(optarg, "no")) {
				fprintf(stderr, "carved: --backup-encrypt '%s': use yes or no\n",
					optarg);
				return -EINVAL;
			}
			d->backup_encrypt = streq(optarg, "yes");
			break;
		case OPT_BACKUP_MIN_INTERVAL:
			if (parse_uint64(optarg, 1, 86400 * 366, &v, &err) < 0)
				goto bad_num;
			d->backup_min_interval = v;
			break;
		case OPT_TRIM_INTERVAL:
			if (parse_uint64(optarg, 0, 86400 * 366, &v, &err) < 0)
				goto bad_num;
			d->trim_interval = v;
			break;
		case OPT_UPLINK:
			net_cfg.uplink = optarg;
			break;
		case OPT_NETWORK_RANGE:
			net_cfg.range = optarg;
			break;
		case OPT_SUBNET_SIZE:
			if (parse_uint64(optarg, 16, 29, &v, &err) < 0)
				goto bad_num;
			net_cfg.subnet_prefixlen = (unsigned)v;
			break;
		case OPT_PUBLIC_ADDRESS:
			net_cfg.public_addr = optarg;
			break;
		case OPT_DNS_UPSTREAM:
			net_cfg.dns_upstream = optarg;
			break;
		case OPT_NET_PREFIX:
			net_cfg.prefix = optarg;
			break;
		case OPT_MAX_PORTS:
			if (parse_uint64(optarg, 0, 65535, &v, &err) < 0)
				goto bad_num;
			net_cfg.max_ports = (unsigned)v;
			break;
		case 'h':
			help();
			return 0;
		case OPT_VERSION:
			printf("carved %s\n", CARVE_VERSION);
			return 0;
		default:
			fprintf(stderr, "carved: see 'carved --help'\n");
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "carved: unexpected argument '%s' (see 'carved --help')\n",
			argv[optind]);
		return -EINVAL;
	}
	return 1;
bad:
	fprintf(stderr, "carved: %s '%s': too long\n", argv[optind - 1], optarg);
	return -EINVAL;
bad_num:
	fprintf(stderr, "carved: %s: %s\n", argv[optind - 1], err.msg);
	return -EINVAL;
}

/*
 * Make dir a mount point of its own with shared propagation. Server volumes are mounted below
 * <run-dir>/servers and pools below <state-dir>/pools; a process that copies the host's mounts
 * into a new mount namespace (ip netns exec, unshare -m, a service with a private /tmp) would
 * otherwise keep private copies of them, and a stopped server's loop device stays busy until
 * that process exits. With a shared parent the copies are peers or slaves, and the unmount
 * reaches them.
 */
static int make_shared_mount(const char *dir)
{
	struct statx sx;

	if (statx(AT_FDCWD, dir, AT_NO_AUTOMOUNT, 0, &sx) < 0)
		return -errno;
	if (!(sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT))
		return -EOPNOTSUPP;
	if (!(sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) &&
	    mount(dir, dir, NULL, MS_BIND | MS_REC, NULL) < 0)
		return -errno;
	if (mount(NULL, dir, NULL, MS_SHARED, NULL) < 0)
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	static struct daemon d = {
		.state_dir = "/var/lib/carve",
		.run_dir = "/run/carve",
		.monitor_fd = -EBADF,
		.listen = "127.0.0.1:8006",
		.cgroup_root = "/sys/fs/cgroup",
		.cgroup_prefix = "carve",
		.uid_base = 1000000,
		.session_ttl = 12 * 3600,
		.stop_timeout = 10,
		.pool_driver = "reflink",
		.pool_size = 64ULL << 30,
		.overcommit = 2.0,
		.fill_threshold = 0.8,
		.lxcfs_binary = "/usr/bin/lxcfs",
		.backup_encrypt = true,
		.backup_min_interval = 300,
		.trim_interval = 6 * 3600,
	};
	struct carve_error err = CARVE_ERROR_INIT;
	struct http_server_config hc = {0};
	char path[PATH_MAX + 32], sock[PATH_MAX + 32];
	sigset_t mask;
	int r, sig, lock_fd;

	r = parse_args(argc, argv, &d);
	if (r <= 0)
		return r < 0 ? 64 : 0;
	if (!d.vm_uid_base)
		d.vm_uid_base = d.uid_base >= 131072 ? d.uid_base - 65536 : 0;
	if (d.vm_uid_base < 65536 || (uint64_t)d.vm_uid_base + 65536 > d.uid_base) {
		fprintf(stderr,
			"carved: --vm-uid-base: the 65536 VM uids must lie at or above 65536 and "
			"below --uid-base (%u), where the tenants' ranges begin\n",
			d.uid_base);
		return 64;
	}
	if (geteuid() != 0) {
		log_error("carved must run as root (it creates namespaces, cgroups and mounts)");
		return 1;
	}
	/* Block the signals we wait for before any thread exists, so every thread inherits it. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	umask(022);

	if ((r = mkdir_p(d.state_dir, 0700)) < 0 || (r = mkdir_p(d.run_dir, 0700)) < 0)
		return log_error_errno(r, "create state and run directories"), 1;
	snprintf(path, sizeof(path), "%s/servers", d.run_dir);
	if ((r = mkdir_p(path, 0700)) < 0)
		return log_error_errno(r, "create '%s'", path), 1;
	lock_fd = lock_run_dir(&d);
	if (lock_fd < 0)
		return log_error_errno(lock_fd, "another carved already uses run directory '%s'",
				       d.run_dir),
		       1;
	r = make_shared_mount(path);
	if (r < 0)
		log_warning("'%s': cannot make it a shared mount (%s): a process that copies the "
			    "host's mounts may keep a stopped server's disk busy",
			    path, strerror(-r));
	snprintf(path, sizeof(path), "%s/pools", d.state_dir);
	r = mkdir_p(path, 0700);
	if (r >= 0)
		r = make_shared_mount(path);
	if (r < 0)
		log_warning("'%s': cannot make it a shared mount (%s)", path, strerror(-r));
	r = find_monitor(&d);
	if (r < 0)
		return log_error_errno(r, "cannot find the carve-monitor binary (use --monitor)"),
		       1;
	/* One sealed copy for every monitor this carved starts (CVE-2019-5736 without a copy of
	 * the binary in memory per server). */
	if (ct_cloned_binary_seal(d.monitor_binary, "carve-monitor", &d.monitor_fd, &err) < 0)
		return log_error("carve-monitor: %s", err.msg), 1;

	snprintf(path, sizeof(path), "%s/carve.db", d.state_dir);
	if (db_open(path, &d.db, &err) < 0)
		return log_error("database '%s': %s", path, err.msg), 1;
	r = db_task_fail_interrupted(d.db, time(NULL), &err);
	if (r > 0)
		log_info(
			"%d tasks were interrupted by the last stop of carved and are marked failed",
			r);
	snprintf(path, sizeof(path), "%s/pools/default", d.state_dir);
	d.volumes = streq(d.pool_driver, "reflink");
	if (d.volumes) {
		char image[PATH_MAX + 32];
		snprintf(image, sizeof(image), "%s/pools/default.img", d.state_dir);
		r = mkdir_p(path, 0700);
		if (r >= 0)
			r = storage_pool_open_image("default", path, image, d.pool_size, &d.pool,
						    &err);
		if (r >= 0)
			r = storage_pool_set_overcommit(d.pool, d.overcommit);
	} else {
		r = storage_pool_open("dir", "default", path, &d.pool, &err);
	}
	if (r < 0)
		return log_error("storage: %s", err.msg[0] ? err.msg : strerror(-r)), 1;
	carve_err_clear(&err);
	if (daemon_pools_open(&d, &err) < 0)
		return log_error("storage: %s", err.msg), 1;
	carve_err_clear(&err);
	if (templates_bootstrap(&d, &err) < 0)
		log_warning("%s", err.msg);
	templates_import_reconcile(&d);
	(void)lxcfs_start(&d);
	if (bootstrap_admin(&d) < 0)
		return 1;
	if ((r = auth_throttle_new(&d.throttle)) < 0 || (r = watcher_new(&d, &d.watcher)) < 0)
		return log_error_errno(r, "start"), 1;
	servers_reconcile(&d);
	if (!d.backup_dir[0])
		snprintf(d.backup_dir, sizeof(d.backup_dir), "%s/backups", d.state_dir);
	carve_err_clear(&err);
	if (backups_init(&d, &err) < 0)
		return log_error("backups: %s", err.msg), 1;
	{
		const char *colon = strrchr(d.listen, ':');
		uint64_t port = 0;
		if (colon && parse_uint64(colon + 1, 1, 65535, &port, NULL) >= 0)
			net_cfg.api_port = (uint16_t)port;
	}
	carve_err_clear(&err);
	if (daemon_net_open(&d, &net_cfg, &err) < 0)
		return log_error("network: %s", err.msg), 1;
	if (d.cgroup_root[0]) {
		carve_err_clear(&err);
		if (cgroup_manager_new(d.cgroup_root, d.cgroup_prefix, _CGROUP_BACKEND_INVALID,
				       &d.cgroups, &err) < 0)
			log_warning("cgroups: %s (pause, resume and tenant caps are unavailable)",
				    err.msg);
	}
	if ((r = housekeeping_new(&d, &d.housekeeping)) < 0)
		return log_error_errno(r, "start housekeeping"), 1;
	if ((r = tasks_new(&d, 4, &d.tasks)) < 0)
		return log_error_errno(r, "start task workers"), 1;

	if ((r = http_router_new(&d.router)) < 0 || (r = api_register(&d)) < 0)
		return log_error_errno(r, "set up routes"), 1;
	snprintf(sock, sizeof(sock), "%s/carved.sock", d.run_dir);
	hc.unix_path = sock;
	hc.tcp_address = d.listen[0] ? d.listen : NULL;
	carve_err_clear(&err);
	if (http_server_start(&hc, d.router, &d.http, &err) < 0)
		return log_error("listen: %s", err.msg), 1;

	printf("carved: listening on unix://%s%s%s\n", sock, d.listen[0] ? " and http://" : "",
	       d.listen);
	if (d.listen[0])
		printf("carved: log in with: carve login --url http://%s --user admin\n", d.listen);
	printf("carved: as root on this host, carve uses unix://%s without logging in\n", sock);
	fflush(stdout);

	for (;;) {
		r = sigwait(&mask, &sig);
		if (r == 0 && (sig == SIGTERM || sig == SIGINT))
			break;
	}
	log_info("stopping (servers keep running)");
	d.http = http_server_stop(d.http);
	d.tasks = tasks_free(d.tasks);
	d.watcher = watcher_free(d.watcher);
	d.housekeeping = housekeeping_free(d.housekeeping);
	d.router = http_router_free(d.router);
	d.throttle = auth_throttle_free(d.throttle);
	daemon_pools_close(&d);
	daemon_net_close(&d);
	d.cgroups = cgroup_manager_free(d.cgroups);
	d.pool = storage_pool_free(d.pool);
	d.db = db_close(d.db);
	safe_close(d.monitor_fd);
	safe_close(lock_fd);
	return 0;
}
