/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Verify, prune and GC.
 *
 * GC and running backups: a running backup holds locks/<id>.lock (flock) holding its start
 * time, rewrites backups/<id>.partial.json with the chunks it references so far, and touches
 * (utimensat) every existing chunk it reuses. GC marks from complete manifests and the partials
 * of running backups, then sweeps unreferenced chunks, except those modified after the oldest
 * running backup started (less 2 s for timestamp granularity): those may be referenced by chunks
 * the backup has not yet listed. Partials and temp files whose backup is dead (lock not held) are
 * removed.
 */
#define LOG_DOMAIN "backup"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup/backup-internal.h"
#include "base/cleanup.h"
#include "base/fd-util.h"
#include "base/log.h"
#include "base/string-util.h"

#define GC_SLACK_S 2

/* ---- a set of digests (open addressing) ---- */

struct dset {
	uint8_t (*keys)[32];
	uint32_t *val; /* user value: index into a side table */
	bool *used;
	size_t cap, n;
};

static void dset_free(struct dset *d)
{
	free(d->keys);
	free(d->val);
	free(d->used);
	memset(d, 0, sizeof(*d));
}

static size_t dhash(const uint8_t k[32], size_t cap)
{
	uint64_t h;

	memcpy(&h, k, sizeof(h)); /* digests are uniformly distributed */
	return (size_t)(h & (cap - 1));
}

static int dset_grow(struct dset *d);

/* Returns the slot; *ret_new tells whether it was inserted. */
static ssize_t dset_add(struct dset *d, const uint8_t k[32], bool *ret_new)
{
	size_t i;

	if ((d->n + 1) * 2 > d->cap) {
		int r = dset_grow(d);
		if (r < 0)
			return r;
	}
	for (i = dhash(k, d->cap); d->used[i]; i = (i + 1) & (d->cap - 1))
		if (memcmp(d->keys[i], k, 32) == 0) {
			if (ret_new)
				*ret_new = false;
			return (ssize_t)i;
		}
	d->used[i] = true;
	memcpy(d->keys[i], k, 32);
	d->val[i] = 0;
	d->n++;
	if (ret_new)
		*ret_new = true;
	return (ssize_t)i;
}

static bool dset_has(const struct dset *d, const uint8_t k[32])
{
	if (d->cap == 0)
		return false;
	for (size_t i = dhash(k, d->cap); d->used[i]; i = (i + 1) & (d->cap - 1))
		if (memcmp(d->keys[i], k, 32) == 0)
			return true;
	return false;
}

static int dset_grow(struct dset *d)
{
	struct dset n = {};

	n.cap = d->cap ? d->cap * 2 : 1024;
	n.keys = calloc(n.cap, 32);
	n.val = calloc(n.cap, sizeof(*n.val));
	n.used = calloc(n.cap, sizeof(*n.used));
	if (!n.keys || !n.val || !n.used) {
		dset_free(&n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < d->cap; i++) {
		if (!d->used[i])
			continue;
		size_t j = dhash(d->keys[i], n.cap);
		while (n.used[j])
			j = (j + 1) & (n.cap - 1);
		n.used[j] = true;
		memcpy(n.keys[j], d->keys[i], 32);
		n.val[j] = d->val[i];
		n.n++;
	}
	dset_free(d);
	*d = n;
	return 0;
}

/* ---- manifests of the store ---- */

struct mlist {
	struct manifest **m;
	size_t n;
};

static void mlist_free(struct mlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		manifest_free(l->m[i]);
	free(l->m);
	l->n = 0;
	l->m = NULL;
}

static int mlist_add(struct mlist *l, struct manifest *m)
{
	struct manifest **n = realloc(l->m, (l->n + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	l->m = n;
	l->m[l->n++] = m;
	return 0;
}

/* lock held by a live process? returns its start time via ret_start */
static bool lock_running(struct backup_store *s, const char *id, int64_t *ret_start)
{
	char name[BACKUP_ID_MAX + 8], buf[32] = "";
	cleanup_close int fd = -EBADF;
	ssize_t n;

	snprintf(name, sizeof(name), "%s.lock", id);
	fd = openat(s->locks_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0)
		return false; /* nobody holds it */
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n > 0)
		buf[n] = 0;
	*ret_start = strtoll(buf, NULL, 10);
	if (*ret_start <= 0)
		*ret_start = time(NULL); /* just created, start time not written yet */
	return true;
}

/* complete manifests (and with partials, those of running backups; stale ones removed) */
static int load_all(struct backup_store *s, bool partials, struct mlist *ret,
		    int64_t *ret_oldest_running, uint64_t *ret_running, uint64_t *ret_stale,
		    uint64_t *ret_temp, struct carve_error *err)
{
	cleanup_closedir DIR *d = NULL;
	struct dirent *de;
	int fd, r;

	fd = openat(s->backups_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		safe_close(fd);
		return carve_err(err, -errno, "backup store '%s': backups: %m", s->path);
	}
	while ((de = readdir(d))) {
		char id[BACKUP_ID_MAX];
		size_t l = strlen(de->d_name);
		bool partial = false;
		struct manifest *m = NULL;
		int64_t start = 0;

		if (startswith(de->d_name, ".tmp-")) {
			/* a manifest being written, or left by a crash: GC's business */
			struct stat st;
			if (ret_temp && fstatat(s->backups_fd, de->d_name, &st, 0) == 0 &&
			    st.st_mtime < time(NULL) - GC_SLACK_S &&
			    unlinkat(s->backups_fd, de->d_name, 0) == 0)
				(*ret_temp)++;
			continue;
		}
		if (l > 13 && streq(de->d_name + l - 13, ".partial.json")) {
			partial = true;
			l -= 13;
		} else if (l > 5 && streq(de->d_name + l - 5, ".json"))
			l -= 5;
		else
			continue;
		if (l >= sizeof(id))
			continue;
		memcpy(id, de->d_name, l);
		id[l] = 0;
		if (partial) {
			if (!partials)
				continue;
			if (!lock_running(s, id, &start)) {
				char lname[BACKUP_ID_MAX + 8];

				/* a dead backup: its partial and lock go */
				if (ret_stale && unlinkat(s->backups_fd, de->d_name, 0) == 0) {
					(*ret_stale)++;
					snprintf(lname, sizeof(lname), "%s.lock", id);
					(void)unlinkat(s->locks_fd, lname, 0);
				}
				continue;
			}
			if (ret_running)
				(*ret_running)++;
			if (ret_oldest_running &&
			    (*ret_oldest_running == 0 || start < *ret_oldest_running))
				*ret_oldest_running = start;
		}
		r = store_manifest_load(s, id, partial, &m, NULL);
		if (r < 0) {
			if (partial)
				continue; /* rewritten under us: its chunks are young, see
					     GC_SLACK_S */
			mlist_free(ret);
			return carve_err(err, r,
					 "backup '%s': manifest unreadable: refusing to "
					 "collect garbage",
					 id);
		}
		r = mlist_add(ret, m);
		if (r < 0) {
			manifest_free(m);
			return carve_err(err, r, "gc");
		}
	}
	/* running backups that have not written a partial yet: the lock alone */
	if (partials) {
		cleanup_closedir DIR *ld = NULL;
		int lfd = openat(s->locks_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (lfd >= 0 && (ld = fdopendir(lfd))) {
			while ((de = readdir(ld))) {
				size_t l = strlen(de->d_name);
				char id[BACKUP_ID_MAX];
				int64_t start = 0;

				if (l <= 5 || l - 5 >= sizeof(id) ||
				    !streq(de->d_name + l - 5, ".lock"))
					continue;
				memcpy(id, de->d_name, l - 5);
				id[l - 5] = 0;
				if (lock_running(s, id, &start) && ret_oldest_running &&
				    (*ret_oldest_running == 0 || start < *ret_oldest_running))
					*ret_oldest_running = start;
			}
		} else
			safe_close(lfd);
	}
	return 0;
}

/* ---- verify ---- */

struct ref {
	uint32_t manifest, volume; /* volume UINT32_MAX: config, UINT32_MAX-1: index of volume */
	uint64_t offset;
	uint32_t next; /* next ref of the same digest, UINT32_MAX: end */
};

void backup_verify_report_release(struct backup_verify_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_bad; i++) {
		free(r->bad[i].volume);
		free(r->bad[i].reason);
	}
	free(r->bad);
	memset(r, 0, sizeof(*r));
}

static int report_add(struct backup_verify_report *rep, const char *backup, const char *volume,
		      uint64_t offset, const uint8_t digest[32], const char *reason)
{
	struct backup_bad_ref *n = realloc(rep->bad, (rep->n_bad + 1) * sizeof(*n));
	struct backup_bad_ref *b;

	if (!n)
		return -ENOMEM;
	rep->bad = n;
	b = &rep->bad[rep->n_bad++];
	memset(b, 0, sizeof(*b));
	strscpy(b->backup_id, backup, sizeof(b->backup_id));
	b->volume = volume ? strdup(volume) : NULL;
	b->offset = offset;
	hex_encode(digest, 32, b->chunk);
	b->reason = strdup(reason);
	return 0;
}

int backup_verify(struct backup_store *s, const char *id, struct backup_verify_report *ret,
		  struct carve_error *err)
{
	struct mlist ml = {};
	struct dset set = {};
	struct ref *refs = NULL;
	size_t n_refs = 0, cap_refs = 0;
	struct backup_verify_report rep = {};
	struct chunk_codec *codec = NULL;
	uint8_t *buf = NULL;
	size_t buf_cap = 0;
	int r;

	if (id) {
		struct manifest *m = NULL;

		r = store_manifest_load(s, id, false, &m, err);
		if (r < 0)
			return r;
		r = mlist_add(&ml, m);
		if (r < 0) {
			manifest_free(m);
			return carve_err(err, r, "verify");
		}
	} else {
		r = load_all(s, false, &ml, NULL, NULL, NULL, NULL, err);
		if (r < 0)
			return r;
	}
	rep.backups = ml.n;
	/* every reference, grouped by digest */
	for (size_t mi = 0; mi < ml.n; mi++) {
		struct manifest *m = ml.m[mi];

		for (size_t vi = 0; vi <= m->n_volumes; vi++) {
			size_t nc = vi < m->n_volumes ? m->volumes[vi].n_chunks : 0;

			for (size_t ci = 0; ci <= nc + 1; ci++) {
				const uint8_t *dg;
				uint32_t vol = (uint32_t)vi;
				uint64_t off = 0;
				ssize_t slot;
				bool isnew;

				if (vi == m->n_volumes) {
					if (ci > 0 || !m->has_config)
						continue;
					dg = m->config_digest;
					vol = UINT32_MAX;
				} else if (ci == nc) {
					if (!m->volumes[vi].has_index)
						continue;
					dg = m->volumes[vi].index_digest;
					vol = UINT32_MAX - 1 - (uint32_t)vi;
				} else if (ci == nc + 1) {
					continue;
				} else {
					dg = m->volumes[vi].chunks[ci].digest;
					off = m->volumes[vi].chunks[ci].offset;
				}
				if (n_refs == cap_refs) {
					struct ref *nr;
					cap_refs = cap_refs ? cap_refs * 2 : 4096;
					nr = realloc(refs, cap_refs * sizeof(*nr));
					if (!nr) {
						r = carve_err(err, -ENOMEM, "verify");
						goto out;
					}
					refs = nr;
				}
				slot = dset_add(&set, dg, &isnew);
				if (slot < 0) {
					r = carve_err(err, (int)slot, "verify");
					goto out;
				}
				refs[n_refs] = (struct ref){(uint32_t)mi, vol, off,
							    isnew ? UINT32_MAX : set.val[slot]};
				set.val[slot] = (uint32_t)n_refs;
				n_refs++;
			}
		}
	}
	codec = chunk_codec_new(1);
	if (!codec) {
		r = carve_err(err, -ENOMEM, "verify");
		goto out;
	}
	for (size_t i = 0; i < set.cap; i++) {
		const struct ref *first;
		const struct manifest *m;
		const struct bkey *k = NULL;
		const char *reason = NULL;
		size_t need, n;
		char rel[72];

		if (!set.used[i])
			continue;
		first = &refs[set.val[i]];
		m = ml.m[first->manifest];
		rep.chunks_checked++;
		if (m->encrypted) {
			k = store_key_find(s, m->key_id);
			if (!k)
				reason = "key not available";
		}
		need = first->volume < UINT32_MAX - 64 ? m->volumes[first->volume].chunk_size
						       : CHUNK_RAW_MAX;
		if (!reason && need == CHUNK_RAW_MAX) {
			uint8_t *blob = NULL;

			r = store_blob_read(s, k, set.keys[i], &blob, &n, &reason);
			free(blob);
		} else if (!reason) {
			if (buf_cap < need) {
				free(buf);
				buf = malloc(need);
				buf_cap = buf ? need : 0;
				if (!buf) {
					r = carve_err(err, -ENOMEM, "verify");
					goto out;
				}
			}
			r = store_chunk_read(s, codec, k, set.keys[i], buf, need, &n, &reason);
			if (r >= 0) {
				const struct mvolume *v = &m->volumes[first->volume];
				uint64_t want = v->size - first->offset < v->chunk_size
							? v->size - first->offset
							: v->chunk_size;
				if (n != want) {
					r = -EBADMSG;
					reason = "wrong length";
				}
			}
		}
		if (r >= 0 && !reason) {
			rep.bytes_checked += n;
			continue;
		}
		if (!reason)
			reason = "unreadable";
		rep.chunks_bad++;
		for (uint32_t ri = set.val[i]; ri != UINT32_MAX; ri = refs[ri].next) {
			const struct manifest *rm = ml.m[refs[ri].manifest];
			const char *vname = refs[ri].volume < UINT32_MAX - 64
						    ? rm->volumes[refs[ri].volume].name
						    : NULL;

			r = report_add(&rep, rm->id, vname, refs[ri].offset, set.keys[i], reason);
			if (r < 0) {
				carve_err(err, r, "verify");
				goto out;
			}
		}
		/* quarantine: later backups no longer find it and store it again */
		chunk_relpath(set.keys[i], rel);
		if (!streq(reason, "key not available") && !streq(reason, "missing"))
			(void)renameat(s->chunks_fd, rel, s->bad_fd, rel + 3);
	}
	r = 0;
	*ret = rep;
	memset(&rep, 0, sizeof(rep));
out:
	backup_verify_report_release(&rep);
	chunk_codec_free(codec);
	free(buf);
	free(refs);
	dset_free(&set);
	mlist_free(&ml);
	return r;
}

/* ---- prune ---- */

static int64_t bucket(int64_t t, int kind)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	switch (kind) {
	case 0: /* hourly */
		return (int64_t)(tm.tm_year + 1900) * 1000000 + tm.tm_yday * 100 + tm.tm_hour;
	case 1: /* daily */
		return (int64_t)(tm.tm_year + 1900) * 1000 + tm.tm_yday;
	case 2: { /* weekly: ISO-ish, weeks starting Monday, counted from the epoch */
		int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
		return (days + 3) >= 0 ? (days + 3) / 7 : (days + 3 - 6) / 7;
	}
	case 3: /* monthly */
		return (int64_t)(tm.tm_year + 1900) * 100 + tm.tm_mon;
	default: /* yearly */
		return tm.tm_year + 1900;
	}
}

struct order {
	int64_t t;
	size_t i;
};

static int cmp_desc(const void *a, const void *b)
{
	const struct order *x = a, *y = b;

	if (x->t != y->t)
		return x->t > y->t ? -1 : 1;
	return x->i < y->i ? -1 : (x->i > y->i);
}

int backup_prune_select(const int64_t *created_at, size_t n,
			const struct backup_prune_policy *policy, bool *keep)
{
	const unsigned counts[5] = {policy->keep_hourly, policy->keep_daily, policy->keep_weekly,
				    policy->keep_monthly, policy->keep_yearly};
	struct order *o;

	if (!policy->keep_last && !counts[0] && !counts[1] && !counts[2] && !counts[3] &&
	    !counts[4])
		return -EINVAL;
	o = calloc(n + 1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		o[i] = (struct order){created_at[i], i};
		keep[i] = false;
	}
	qsort(o, n, sizeof(*o), cmp_desc);
	/* newest first: keep_last newest; per period kind, the newest backup of each of the N
	 * most recent periods that have one */
	for (size_t i = 0; i < n && i < policy->keep_last; i++)
		keep[o[i].i] = true;
	for (int kind = 0; kind < 5; kind++) {
		unsigned left = counts[kind];
		int64_t last = INT64_MIN;

		for (size_t i = 0; i < n && left > 0; i++) {
			int64_t b = bucket(o[i].t, kind);

			if (b == last)
				continue;
			last = b;
			keep[o[i].i] = true;
			left--;
		}
	}
	free(o);
	return 0;
}

int backup_prune(struct backup_store *s, const char *server_id,
		 const struct backup_prune_policy *policy, bool dry_run, char ***ret_removed,
		 struct carve_error *err)
{
	struct backup_info *infos = NULL;
	cleanup_free int64_t *times = NULL;
	cleanup_free size_t *idx = NULL;
	cleanup_free bool *keep = NULL;
	char **removed = NULL;
	size_t n = 0, m = 0, nr = 0;
	int r;

	r = backup_list(s, &infos, &n, err);
	if (r < 0)
		return r;
	times = calloc(n + 1, sizeof(*times));
	idx = calloc(n + 1, sizeof(*idx));
	keep = calloc(n + 1, sizeof(*keep));
	removed = calloc(n + 1, sizeof(*removed));
	if (!times || !idx || !keep || !removed) {
		r = carve_err(err, -ENOMEM, "prune");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (streq(infos[i].server_id, server_id)) {
			times[m] = infos[i].created_at;
			idx[m++] = i;
		}
	r = backup_prune_select(times, m, policy, keep);
	if (r < 0) {
		r = carve_err_field(err, r, "policy",
				    r == -EINVAL ? "prune: the policy keeps nothing" : "prune");
		goto out;
	}
	for (size_t i = 0; i < m; i++) {
		if (keep[i])
			continue;
		if (!dry_run) {
			r = backup_delete(s, infos[idx[i]].id, err);
			if (r < 0)
				goto out;
		}
		removed[nr] = strdup(infos[idx[i]].id);
		if (!removed[nr]) {
			r = carve_err(err, -ENOMEM, "prune");
			goto out;
		}
		nr++;
	}
	r = 0;
	if (ret_removed) {
		*ret_removed = removed;
		removed = NULL;
	}
out:
	strv_free(removed);
	backup_info_array_free(infos, n);
	return r;
}

/* ---- gc ---- */

int backup_gc(struct backup_store *s, struct backup_gc_stats *ret, struct carve_error *err)
{
	struct backup_gc_stats st = {};
	struct mlist ml = {};
	struct dset live = {};
	int64_t oldest = 0, cutoff;
	cleanup_close int gc_lock = -EBADF;
	int r;

	/* one GC at a time */
	gc_lock = openat(s->locks_fd, "gc", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (gc_lock < 0 || flock(gc_lock, LOCK_EX | LOCK_NB) < 0)
		return carve_err(err, errno == EWOULDBLOCK ? -EBUSY : -errno,
				 "backup store '%s': gc: another gc is running", s->path);
	r = load_all(s, true, &ml, &oldest, &st.running_backups, &st.partials_removed,
		     &st.temp_removed, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ml.n; i++) {
		struct manifest *m = ml.m[i];

		if (m->has_config && dset_add(&live, m->config_digest, NULL) < 0)
			goto nomem;
		for (size_t v = 0; v < m->n_volumes; v++) {
			if (m->volumes[v].has_index &&
			    dset_add(&live, m->volumes[v].index_digest, NULL) < 0)
				goto nomem;
			for (size_t c = 0; c < m->volumes[v].n_chunks; c++)
				if (dset_add(&live, m->volumes[v].chunks[c].digest, NULL) < 0)
					goto nomem;
		}
	}
	/* chunks younger than this may belong to a running backup that has not listed them */
	cutoff = (oldest ? oldest : time(NULL)) - GC_SLACK_S;
	{
		/* a config temp file left by a crash while the store was created */
		cleanup_closedir DIR *rd = NULL;
		struct dirent *de;
		int rfd = openat(s->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (rfd >= 0 && (rd = fdopendir(rfd))) {
			while ((de = readdir(rd))) {
				struct stat tst;

				if (startswith(de->d_name, ".tmp-") &&
				    fstatat(s->dfd, de->d_name, &tst, AT_SYMLINK_NOFOLLOW) == 0 &&
				    tst.st_mtime < cutoff && unlinkat(s->dfd, de->d_name, 0) == 0)
					st.temp_removed++;
			}
		} else
			safe_close(rfd);
	}
	for (unsigned a = 0; a < 256; a++) {
		cleanup_closedir DIR *d = NULL;
		struct dirent *de;
		char sub[3];
		int fd;

		snprintf(sub, sizeof(sub), "%02x", a);
		fd = openat(s->chunks_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		d = fdopendir(fd);
		if (!d) {
			safe_close(fd);
			continue;
		}
		while ((de = readdir(d))) {
			uint8_t dg[32];
			struct stat cst;

			if (de->d_name[0] == '.' &&
			    (streq(de->d_name, ".") || streq(de->d_name, "..")))
				continue;
			if (fstatat(dirfd(d), de->d_name, &cst, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			if (startswith(de->d_name, ".tmp-")) {
				if (cst.st_mtime < cutoff && unlinkat(dirfd(d), de->d_name, 0) == 0)
					st.temp_removed++;
				continue;
			}
			if (hex_decode32(de->d_name, dg) < 0)
				continue;
			st.chunks_total++;
			if (dset_has(&live, dg))
				continue;
			if (cst.st_mtime >= cutoff) {
				st.chunks_kept_recent++;
				continue;
			}
			if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
				st.chunks_removed++;
				st.bytes_removed += (uint64_t)cst.st_size;
			}
		}
	}
	r = 0;
	if (ret)
		*ret = st;
	goto out;
nomem:
	r = carve_err(err, -ENOMEM, "gc");
out:
	dset_free(&live);
	mlist_free(&ml);
	return r;
}
