/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the db-*.c files only: the struct behind the opaque handle, the lock guard, statement
 * and row helpers. Every helper expects the caller to hold db->lock.
 */
#ifndef CARVE_DB_INTERNAL_H
#define CARVE_DB_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include "base/cleanup.h"
#include "db/db.h"

struct db {
	sqlite3 *sql;
	pthread_mutex_t lock; /* recursive */
	unsigned tx_depth; /* 0: no transaction; 1: BEGIN; >1: nested SAVEPOINTs */
	char *path;
};

struct db *db_lock(struct db *db);
void db_unlockp(struct db **db);
/* Holds db->lock until the end of the scope. */
#define DB_LOCKED(db)                \
	_unused_ cleanup(db_unlockp) \
	struct db *_db_locked_ = db_lock(db)

static inline void stmt_finalizep(sqlite3_stmt **st)
{
	if (*st)
		sqlite3_finalize(*st);
	*st = NULL;
}
#define cleanup_stmt cleanup(stmt_finalizep)

/* Prepare sql; on failure -EIO with the SQLite message in err. */
int db_prepare(struct db *db, const char *sql, sqlite3_stmt **ret, struct carve_error *err);

/* Map a failed sqlite3_step() to -errno and fill err with "what: reason". Unique and primary key
 * violations become -EEXIST ("what already exists"), foreign key violations -ENOENT (on insert:
 * a referenced row is missing) or -EBUSY (on delete: rows still refer to it), CHECK and NOT NULL
 * violations -EINVAL, everything else -EIO. */
int db_step_error(struct db *db, int rc, bool deleting, struct carve_error *err, const char *fmt,
		  ...) _printf_(5, 6);

/* Bind text; NULL binds SQL NULL. */
int bind_text(sqlite3_stmt *st, int i, const char *s);
/* Bind text, but "" (and NULL) binds SQL NULL: for optional foreign keys. */
int bind_text_or_null(sqlite3_stmt *st, int i, const char *s);
/* Copy a text column into a fixed buffer ("" for NULL). */
void column_copy(sqlite3_stmt *st, int i, char *dst, size_t n);
/* strdup of a text column; NULL for SQL NULL. Returns -ENOMEM only on allocation failure. */
int column_dup(sqlite3_stmt *st, int i, char **ret);

/* Check that s fits a fixed buffer of n bytes: -EINVAL naming what otherwise. */
int check_fits(const char *s, size_t n, const char *what, struct carve_error *err);

/* Append p to a growing pointer array. */
int ptr_array_push(void ***a, size_t *n, size_t *cap, void *p);

/* Step st to the end, turning each row into an object with row(); on failure frees what was
 * built with free_row() and leaves *ret untouched. */
int db_collect(struct db *db, sqlite3_stmt *st, int (*row)(sqlite3_stmt *st, void **ret),
	       void (*free_row)(void *p), void ***ret, size_t *ret_n, const char *what,
	       struct carve_error *err);

/* Run sql with key bound to ?1 and build the single row with row(): -ENOENT "noun 'key' not found"
 * when there is none. */
int db_get_one(struct db *db, const char *sql, const char *key,
	       int (*row)(sqlite3_stmt *st, void **ret), void **ret, const char *noun,
	       struct carve_error *err);

/* Run a DELETE or UPDATE with id bound to ?1: -ENOENT "noun 'id' not found" when no row changed. */
int db_delete_by_id(struct db *db, const char *sql, const char *id, const char *noun,
		    struct carve_error *err);

/* Run a statement that returns no rows (or ignores them). */
int db_exec(struct db *db, const char *sql, struct carve_error *err);

#endif
