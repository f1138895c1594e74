/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Passwords, secrets, rights and login throttling.
 *
 *  - Passwords: argon2id, OWASP minimum parameters (m=19 MiB, t=2, p=1), PHC-encoded strings. At
 *    most AUTH_MAX_CONCURRENT_HASHES hashes run at once in the process (a semaphore), so a burst of
 *    logins cannot exhaust memory; callers beyond that wait.
 *  - Secrets (session and API tokens): "carve_" + 64 hex characters of getrandom(); stored only as
 *    the SHA-256 hex (OpenSSL) of the whole string.
 *  - Rights: a fixed table mapping roles (db_role) to rights; a token never exceeds its owner.
 *  - Throttle: failed logins counted per account and per remote address in a fixed-size in-memory
 *    table with exponential back-off; thread-safe.
 *
 * Depends on base, db (for enum db_role), OpenSSL libcrypto and libargon2. No logging above debug.
 */
#ifndef CARVE_AUTH_H
#define CARVE_AUTH_H

#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "db/db.h"

#define AUTH_MAX_CONCURRENT_HASHES 4
#define AUTH_PASSWORD_MIN 8
#define AUTH_PASSWORD_MAX 256
#define AUTH_SECRET_PREFIX "carve_"
#define AUTH_SECRET_LEN (6 + 64)

/* Hash a password (length checked: AUTH_PASSWORD_MIN..MAX, else -EINVAL naming the rule). */
int auth_password_hash(const char *password, char **ret_encoded, struct carve_error *err);
/* 1 match, 0 mismatch, <0 error. Always spends the same work as a real verify, also when encoded
 * is NULL (unknown user), so timing does not reveal which accounts exist. */
int auth_password_verify(const char *encoded, const char *password);

/* A new secret (AUTH_SECRET_LEN chars + NUL) and its SHA-256 hex (64 + NUL). */
int auth_secret_new(char ret_secret[AUTH_SECRET_LEN + 1], char ret_hash[65]);
void auth_secret_hash(const char *secret, char ret_hash[65]);
/* A random printable password for the bootstrap admin: len is the size of buf, which receives
 * len - 1 characters and a NUL. */
int auth_password_generate(char *buf, size_t len);

enum auth_right {
	AUTH_RIGHT_SERVERS_READ,
	AUTH_RIGHT_SERVERS_OPERATE, /* start, stop, restart */
	AUTH_RIGHT_SERVERS_WRITE, /* create, change, delete */
	AUTH_RIGHT_TASKS_READ,
	AUTH_RIGHT_TEMPLATES_READ,
	AUTH_RIGHT_TEMPLATES_WRITE,
	AUTH_RIGHT_USERS_READ,
	AUTH_RIGHT_USERS_WRITE,
	AUTH_RIGHT_TOKENS_WRITE, /* own tokens */
	AUTH_RIGHT_TENANTS_READ,
	AUTH_RIGHT_TENANTS_WRITE, /* provider admin only */
	AUTH_RIGHT_POOLS_READ, /* provider admin only: storage pools and their capacity */
	AUTH_RIGHT_POOLS_WRITE, /* provider admin only */
	AUTH_RIGHT_BACKUPS_READ, /* list, show, browse files of, fetch files from own backups */
	AUTH_RIGHT_BACKUPS_WRITE, /* create, delete, restore, verify, prune, schedules */
	AUTH_RIGHT_NETWORKS_READ, /* the tenant's networks, interfaces, published ports */
	AUTH_RIGHT_NETWORKS_WRITE,
	_AUTH_RIGHT_MAX,
	_AUTH_RIGHT_INVALID = -EINVAL,
};
const char *auth_right_to_string(enum auth_right r); /* "servers.operate" */

bool auth_role_has_right(enum db_role role, enum auth_right right);
/* The weaker of two roles (admin > owner > operator > viewer). */
enum db_role auth_role_min(enum db_role a, enum db_role b);
/* Whether a user of role `granter` may create a user or token of role `wanted`. */
bool auth_role_may_grant(enum db_role granter, enum db_role wanted);

struct auth_throttle;
int auth_throttle_new(struct auth_throttle **ret);
struct auth_throttle *auth_throttle_free(struct auth_throttle *t);
/* 0 if a login attempt for (account, remote) may proceed now; otherwise -EAGAIN and
 * *ret_retry_after set to the seconds to wait. */
int auth_throttle_check(struct auth_throttle *t, const char *account, const char *remote,
			int64_t now, int64_t *ret_retry_after);
void auth_throttle_failed(struct auth_throttle *t, const char *account, const char *remote,
			  int64_t now);
void auth_throttle_succeeded(struct auth_throttle *t, const char *account, const char *remote);

#endif
