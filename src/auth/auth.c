/* SPDX-License-Identifier: Apache-2.0 */
/* Passwords (argon2id), secrets (SHA-256), the rights table and the login throttle. */
#define LOG_DOMAIN "auth"

#include <argon2.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "base/string-util.h"

/* OWASP's minimum for argon2id: m=19 MiB, t=2, p=1. */
#define ARGON2_T_COST 2
#define ARGON2_M_COST_KIB 19456
#define ARGON2_PARALLELISM 1
#define ARGON2_SALT_LEN 16
#define ARGON2_HASH_LEN 32

/* --- bounded hashing -------------------------------------------------------------------------- */

static sem_t hash_slots;
static pthread_once_t hash_slots_once = PTHREAD_ONCE_INIT;

static void hash_slots_init(void)
{
	sem_init(&hash_slots, 0, AUTH_MAX_CONCURRENT_HASHES);
}

static void hash_slot_acquire(void)
{
	pthread_once(&hash_slots_once, hash_slots_init);
	while (sem_wait(&hash_slots) < 0 && errno == EINTR)
		;
}

static void hash_slot_release(void)
{
	sem_post(&hash_slots);
}

/* --- passwords -------------------------------------------------------------------------------- */

static int hash_encoded(const char *password, size_t len, char **ret)
{
	uint8_t salt[ARGON2_SALT_LEN];
	cleanup_free char *encoded = NULL;
	size_t elen;
	int r;

	r = random_bytes(salt, sizeof(salt));
	if (r < 0)
		return r;
	elen = argon2_encodedlen(ARGON2_T_COST, ARGON2_M_COST_KIB, ARGON2_PARALLELISM,
				 ARGON2_SALT_LEN, ARGON2_HASH_LEN, Argon2_id);
	encoded = malloc(elen);
	if (!encoded)
		return -ENOMEM;
	hash_slot_acquire();
	r = argon2id_hash_encoded(ARGON2_T_COST, ARGON2_M_COST_KIB, ARGON2_PARALLELISM, password,
				  len, salt, sizeof(salt), ARGON2_HASH_LEN, encoded, elen);
	hash_slot_release();
	if (r == ARGON2_MEMORY_ALLOCATION_ERROR)
		return -ENOMEM;
	if (r != ARGON2_OK)
		return -EIO;
	*ret = TAKE_PTR(encoded);
	return 0;
}

int auth_password_hash(const char *password, char **ret_encoded, struct carve_error *err)
{
	size_t len;
	int r;

	if (!password)
		return carve_err_field(err, -EINVAL, "password", "password is missing");
	len = strnlen(password, AUTH_PASSWORD_MAX + 1);
	if (len < AUTH_PASSWORD_MIN)
		return carve_err_field(err, -EINVAL, "password",
				       "password is shorter than %d characters", AUTH_PASSWORD_MIN);
	if (len > AUTH_PASSWORD_MAX)
		return carve_err_field(err, -EINVAL, "password",
				       "password is longer than %d characters", AUTH_PASSWORD_MAX);
	r = hash_encoded(password, len, ret_encoded);
	if (r < 0)
		return carve_err(err, r, "password: argon2id hash failed");
	return 0;
}

/* The hash unknown users are checked against, so they cost what a real account costs. */
static char *dummy_hash;
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void dummy_init(void)
{
	char pw[33];

	if (random_id(pw) < 0)
		return;
	(void)hash_encoded(pw, strlen(pw), &dummy_hash);
}

int auth_password_verify(const char *encoded, const char *password)
{
	size_t len;
	bool known = encoded != NULL;
	int r;

	if (!password)
		return -EINVAL;
	len = strnlen(password, AUTH_PASSWORD_MAX + 1);
	if (!encoded || len > AUTH_PASSWORD_MAX) {
		/* Too long passwords never match: no hash accepts them. Spend the work anyway. */
		pthread_once(&dummy_once, dummy_init);
		if (!dummy_hash)
			return -ENOMEM;
		encoded = dummy_hash;
		known = false;
	}
	hash_slot_acquire();
	r = argon2id_verify(encoded, password, len);
	hash_slot_release();
	if (!known)
		return 0;
	switch (r) {
	case ARGON2_OK:
		return 1;
	case ARGON2_VERIFY_MISMATCH:
		return 0;
	case ARGON2_MEMORY_ALLOCATION_ERROR:
		return -ENOMEM;
	default:
		return -EINVAL; /* not an argon2id encoded string */
	}
}

/* --- secrets ---------------------------------------------------------------------------------- */

void auth_secret_hash(const char *secret, char ret_hash[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(secret, strlen(secret), md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32) {
		/* Only on allocation failure inside OpenSSL: a hash no secret maps to. */
		memset(ret_hash, '-', 64);
		ret_hash[64] = '\0';
		return;
	}
	hex_encode(md, 32, ret_hash);
}

int auth_secret_new(char ret_secret[AUTH_SECRET_LEN + 1], char ret_hash[65])
{
	uint8_t b[32];
	char secret[AUTH_SECRET_LEN + 1];
	int r;

	r = random_bytes(b, sizeof(b));
	if (r < 0)
		return r;
	memcpy(secret, AUTH_SECRET_PREFIX, strlen(AUTH_SECRET_PREFIX));
	hex_encode(b, sizeof(b), secret + strlen(AUTH_SECRET_PREFIX));
	explicit_bzero(b, sizeof(b));
	auth_secret_hash(secret, ret_hash);
	memcpy(ret_secret, secret, sizeof(secret));
	explicit_bzero(secret, sizeof(secret));
	return 0;
}

int auth_password_generate(char *buf, size_t len)
{
	/* No look-alikes (0/O, 1/l/I): the bootstrap password is read off a terminal. */
	static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	const size_t n = sizeof(alphabet) - 1;
	/* Largest multiple of n below 256: bytes above it are redrawn so every letter is equally
	 * likely. */
	const unsigned limit = 256 - 256 % n;
	size_t i = 0;

	if (len == 0)
		return -EINVAL;
	while (i < len - 1) {
		uint8_t b[64];
		int r = random_bytes(b, sizeof(b));

		if (r < 0)
			return r;
		for (size_t j = 0; j < sizeof(b) && i < len - 1; j++)
			if (b[j] < limit)
				buf[i++] = alphabet[b[j] % n];
	}
	buf[i] = '\0';
	return 0;
}

/* --- rights ----------------------------------------------------------------------------------- */

static const char *const right_table[_AUTH_RIGHT_MAX] = {
	[AUTH_RIGHT_SERVERS_READ] = "servers.read",
	[AUTH_RIGHT_SERVERS_OPERATE] = "servers.operate",
	[AUTH_RIGHT_SERVERS_WRITE] = "servers.write",
	[AUTH_RIGHT_TASKS_READ] = "tasks.read",
	[AUTH_RIGHT_TEMPLATES_READ] = "templates.read",
	[AUTH_RIGHT_TEMPLATES_WRITE] = "templates.write",
	[AUTH_RIGHT_USERS_READ] = "users.read",
	[AUTH_RIGHT_USERS_WRITE] = "users.write",
	[AUTH_RIGHT_TOKENS_WRITE] = "tokens.write",
	[AUTH_RIGHT_TENANTS_READ] = "tenants.read",
	[AUTH_RIGHT_TENANTS_WRITE] = "tenants.write",
	[AUTH_RIGHT_POOLS_READ] = "pools.read",
	[AUTH_RIGHT_POOLS_WRITE] = "pools.write",
	[AUTH_RIGHT_BACKUPS_READ] = "backups.read",
	[AUTH_RIGHT_BACKUPS_WRITE] = "backups.write",
	[AUTH_RIGHT_NETWORKS_READ] = "networks.read",
	[AUTH_RIGHT_NETWORKS_WRITE] = "networks.write",
};

const char *auth_right_to_string(enum auth_right r)
{
	return r >= 0 && r < _AUTH_RIGHT_MAX ? right_table[r] : NULL;
}

#define RIGHT(r) (UINT32_C(1) << (r))
#define VIEWER_RIGHTS                                                        \
	(RIGHT(AUTH_RIGHT_SERVERS_READ) | RIGHT(AUTH_RIGHT_TASKS_READ) |     \
	 RIGHT(AUTH_RIGHT_TEMPLATES_READ) | RIGHT(AUTH_RIGHT_TENANTS_READ) | \
	 RIGHT(AUTH_RIGHT_TOKENS_WRITE) | RIGHT(AUTH_RIGHT_BACKUPS_READ) |   \
	 RIGHT(AUTH_RIGHT_NETWORKS_READ))
#define OPERATOR_RIGHTS (VIEWER_RIGHTS | RIGHT(AUTH_RIGHT_SERVERS_OPERATE))
/* Everything within the tenant; tenants.read is scoped to the own tenant by the caller. */
#define OWNER_RIGHTS                                                                        \
	(OPERATOR_RIGHTS | RIGHT(AUTH_RIGHT_SERVERS_WRITE) | RIGHT(AUTH_RIGHT_USERS_READ) | \
	 RIGHT(AUTH_RIGHT_USERS_WRITE) | RIGHT(AUTH_RIGHT_BACKUPS_WRITE) |                  \
	 RIGHT(AUTH_RIGHT_NETWORKS_WRITE))
#define ADMIN_RIGHTS (RIGHT(_AUTH_RIGHT_MAX) - 1)

static const uint32_t role_rights[_DB_ROLE_MAX] = {
	[DB_ROLE_ADMIN] = ADMIN_RIGHTS,
	[DB_ROLE_OWNER] = OWNER_RIGHTS,
	[DB_ROLE_OPERATOR] = OPERATOR_RIGHTS,
	[DB_ROLE_VIEWER] = VIEWER_RIGHTS,
};

static bool role_valid(enum db_role r)
{
	return r >= 0 && r < _DB_ROLE_MAX;
}

bool auth_role_has_right(enum db_role role, enum auth_right right)
{
	if (!role_valid(role) || right < 0 || right >= _AUTH_RIGHT_MAX)
		return false;
	return (role_rights[role] & RIGHT(right)) != 0;
}

/* enum db_role is ordered strongest first, so the weaker role is the larger value. */
enum db_role auth_role_min(enum db_role a, enum db_role b)
{
	if (!role_valid(a) || !role_valid(b))
		return _DB_ROLE_INVALID;
	return a > b ? a : b;
}

bool auth_role_may_grant(enum db_role granter, enum db_role wanted)
{
	return role_valid(granter) && role_valid(wanted) && wanted >= granter;
}

/* --- throttle --------------------------------------------------------------------------------- */

/*
 * A fixed table of THROTTLE_BUCKETS x THROTTLE_WAYS entries (set-associative: a key lives in one
 * bucket, in any of its ways). When a bucket is full the entry whose last failure is oldest is
 * evicted. Keys are "a:<account>" and "r:<remote>"; the hash is seeded per table so that nobody
 * can choose names that all land in one bucket to push a victim's entry out.
 */
#define THROTTLE_BUCKETS 512
#define THROTTLE_WAYS 8
#define THROTTLE_KEY_MAX 128
#define THROTTLE_FREE_FAILURES 5
#define THROTTLE_WINDOW_S (15 * 60)
#define THROTTLE_MAX_WAIT_S (15 * 60)

struct throttle_entry {
	bool used;
	uint64_t hash;
	char key[THROTTLE_KEY_MAX];
	uint32_t failures;
	int64_t last_failure;
};

struct auth_throttle {
	pthread_mutex_t lock;
	uint64_t seed;
	struct throttle_entry entries[THROTTLE_BUCKETS][THROTTLE_WAYS];
};

int auth_throttle_new(struct auth_throttle **ret)
{
	struct auth_throttle *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	r = random_bytes(&t->seed, sizeof(t->seed));
	if (r < 0) {
		free(t);
		return r;
	}
	pthread_mutex_init(&t->lock, NULL);
	*ret = t;
	return 0;
}

struct auth_throttle *auth_throttle_free(struct auth_throttle *t)
{
	if (!t)
		return NULL;
	pthread_mutex_destroy(&t->lock);
	free(t);
	return NULL;
}

static void make_key(char key[THROTTLE_KEY_MAX], char kind, const char *s)
{
	key[0] = kind;
	key[1] = ':';
	(void)strscpy(key + 2, s, THROTTLE_KEY_MAX - 2);
}

/* FNV-1a over the key, with the table's seed folded in and a final mix. */
static uint64_t key_hash(const struct auth_throttle *t, const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ t->seed;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/* Failures older than the window are forgotten. */
static bool entry_live(const struct throttle_entry *e, int64_t now)
{
	return e->used && now - e->last_failure <= THROTTLE_WINDOW_S;
}

static struct throttle_entry *lookup(struct auth_throttle *t, const char *key, bool create,
				     int64_t now)
{
	uint64_t h = key_hash(t, key);
	struct throttle_entry *bucket = t->entries[h % THROTTLE_BUCKETS], *victim = NULL;

	for (size_t i = 0; i < THROTTLE_WAYS; i++)
		if (bucket[i].used && bucket[i].hash == h && streq(bucket[i].key, key))
			return &bucket[i];
	if (!create)
		return NULL;
	for (size_t i = 0; i < THROTTLE_WAYS; i++) {
		struct throttle_entry *e = &bucket[i];

		if (!entry_live(e, now)) {
			victim = e;
			break;
		}
		if (!victim || e->last_failure < victim->last_failure)
			victim = e;
	}
	*victim = (struct throttle_entry){.used = true, .hash = h};
	(void)strscpy(victim->key, key, sizeof(victim->key));
	return victim;
}

/* Seconds this entry still has to wait at now; 0 if none. */
static int64_t entry_wait(const struct throttle_entry *e, int64_t now)
{
	int64_t wait, until;
	uint32_t over;

	if (!e || !entry_live(e, now) || e->failures < THROTTLE_FREE_FAILURES)
		return 0;
	/* Times are whole seconds, so the first wait is 2 s: at least one full second whatever
	 * fraction of the second the failure came in. */
	over = e->failures - THROTTLE_FREE_FAILURES;
	wait = over >= 10 ? THROTTLE_MAX_WAIT_S : INT64_C(2) << over;
	if (wait > THROTTLE_MAX_WAIT_S)
		wait = THROTTLE_MAX_WAIT_S;
	until = e->last_failure + wait;
	return until > now ? until - now : 0;
}

int auth_throttle_check(struct auth_throttle *t, const char *account, const char *remote,
			int64_t now, int64_t *ret_retry_after)
{
	char key[THROTTLE_KEY_MAX];
	int64_t wait = 0, w;

	pthread_mutex_lock(&t->lock);
	if (account && *account) {
		make_key(key, 'a', account);
		wait = entry_wait(lookup(t, key, false, now), now);
	}
	if (remote && *remote) {
		make_key(key, 'r', remote);
		w = entry_wait(lookup(t, key, false, now), now);
		if (w > wait)
			wait = w;
	}
	pthread_mutex_unlock(&t->lock);
	if (wait == 0)
		return 0;
	if (ret_retry_after)
		*ret_retry_after = wait;
	return -EAGAIN;
}

static void record_failure(struct auth_throttle *t, char kind, const char *s, int64_t now)
{
	char key[THROTTLE_KEY_MAX];
	struct throttle_entry *e;

	make_key(key, kind, s);
	e = lookup(t, key, true, now);
	if (!entry_live(e, now))
		e->failures = 0;
	if (e->failures < UINT32_MAX)
		e->failures++;
	e->last_failure = now;
}

void auth_throttle_failed(struct auth_throttle *t, const char *account, const char *remote,
			  int64_t now)
{
	pthread_mutex_lock(&t->lock);
	if (account && *account)
		record_failure(t, 'a', account, now);
	if (remote && *remote)
		record_failure(t, 'r', remote, now);
	pthread_mutex_unlock(&t->lock);
}

void auth_throttle_succeeded(struct auth_throttle *t, const char *account, const char *remote)
{
	char key[THROTTLE_KEY_MAX];
	struct throttle_entry *e;

	/* Only the account is forgiven: one good login from an address must not reset the count
	 * of an address that is guessing at many accounts. */
	if (!account || !*account)
		return;
	make_key(key, 'a', account);
	pthread_mutex_lock(&t->lock);
	e = lookup(t, key, false, 0);
	if (e)
		*e = (struct throttle_entry){0};
	pthread_mutex_unlock(&t->lock);
}
