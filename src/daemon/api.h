/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The REST API's common parts: who is calling (struct caller, resolved from a bearer secret or
 * from root on the unix socket), rights checks that answer 403 naming the right, the one table
 * from errno to HTTP status, JSON renderings of rows, and the route table. Handlers live in one
 * file per resource (api-*.c) and are plain functions of (daemon, caller, request, response).
 */
#ifndef CARVE_DAEMON_API_H
#define CARVE_DAEMON_API_H

#include "daemon/daemon.h"

struct caller {
	bool root; /* uid 0 on the unix socket, no token */
	char user_id[33];
	char user_name[64];
	char tenant_id[33]; /* "" for provider admins */
	char tenant_name[64];
	char token_id[33]; /* the session or token used, "" for root */
	bool is_session;
	enum db_role role; /* effective: min(token role, user role) */
};

/* jansson's own json_decrefp */
#define cleanup_json cleanup(json_decrefp)

/* Parse the request body as a JSON object with only the allowed fields; answers 400 on failure. */
bool api_body(struct http_request *req, const char *const *allowed, json_t **ret,
	      struct http_response *resp);

typedef void (*api_fn)(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp);

/* Answer with the HTTP status that fits err->code and err's message (and field). */
void api_fail(struct http_response *resp, const struct carve_error *err);
/* false (and a 403 naming the right) when the caller lacks it. */
bool api_require(const struct caller *c, enum auth_right right, struct http_response *resp);
static inline bool caller_is_admin(const struct caller *c)
{
	return c->role == DB_ROLE_ADMIN;
}

/*
 * Resolve which tenant a request acts in. Tenant users: always their own tenant (a "tenant" field
 * or ?tenant= naming another one is a 404 for that tenant). Admins: the named tenant; when none is
 * named, *ret stays NULL (meaning "all" for lists) unless required, which is a 400 naming field.
 */
int api_tenant_scope(struct daemon *d, const struct caller *c, const char *named, bool required,
		     struct db_tenant **ret, struct carve_error *err);

/* The server named by the {name} path parameter, as the caller may see it (404 otherwise; admins
 * may add ?tenant=). */
int api_find_server(struct daemon *d, const struct caller *c, struct http_request *req,
		    struct db_server **ret, struct carve_error *err);

json_t *json_timestamp(int64_t t);
json_t *api_tenant_json(struct daemon *d, const struct db_tenant *t);
json_t *api_user_json(struct daemon *d, const struct db_user *u);
json_t *api_token_json(const struct db_token *t, const char *user_name);
json_t *api_template_json(const struct db_template *t);
json_t *api_server_json(struct daemon *d, const struct db_server *s);
json_t *api_task_json(struct daemon *d, const struct db_task *t);

/* Route handlers, one file per resource. */
void api_login(struct daemon *d, const struct caller *c, struct http_request *req,
	       struct http_response *resp);
void api_logout(struct daemon *d, const struct caller *c, struct http_request *req,
		struct http_response *resp);
void api_whoami(struct daemon *d, const struct caller *c, struct http_request *req,
		struct http_response *resp);
void api_tenants_list(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp);
void api_tenants_create(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp);
void api_tenants_get(struct daemon *d, const struct caller *c, struct http_request *req,
		     struct http_response *resp);
void api_tenants_patch(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp);
void api_tenants_delete(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp);
void api_users_list(struct daemon *d, const struct caller *c, struct http_request *req,
		    struct http_response *resp);
void api_users_create(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp);
void api_users_get(struct daemon *d, const struct caller *c, struct http_request *req,
		   struct http_response *resp);
void api_users_patch(struct daemon *d, const struct caller *c, struct http_request *req,
		     struct http_response *resp);
void api_users_delete(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp);
void api_tokens_list(struct daemon *d, const struct caller *c, struct http_request *req,
		     struct http_response *resp);
void api_tokens_create(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp);
void api_tokens_delete(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp);
void api_templates_list(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp);
void api_templates_get(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp);
void api_servers_list(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp);
void api_servers_create(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp);
void api_servers_get(struct daemon *d, const struct caller *c, struct http_request *req,
		     struct http_response *resp);
void api_servers_patch(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp);
void api_servers_delete(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp);
void api_servers_start(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp);
void api_servers_stop(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp);
void api_servers_restart(struct daemon *d, const struct caller *c, struct http_request *req,
			 struct http_response *resp);
/* api-console.c: websocket upgrades */
void api_servers_console(struct daemon *d, const struct caller *c, struct http_request *req,
			 struct http_response *resp);
void api_servers_exec(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp);
void api_snapshots_list(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp);
void api_snapshots_create(struct daemon *d, const struct caller *c, struct http_request *req,
			  struct http_response *resp);
void api_snapshots_delete(struct daemon *d, const struct caller *c, struct http_request *req,
			  struct http_response *resp);
void api_snapshots_rollback(struct daemon *d, const struct caller *c, struct http_request *req,
			    struct http_response *resp);
void api_snapshots_clone(struct daemon *d, const struct caller *c, struct http_request *req,
			 struct http_response *resp);
void api_events_list(struct daemon *d, const struct caller *c, struct http_request *req,
		     struct http_response *resp);
/* api-volumes.c: data volumes */
void api_volumes_list(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp);
void api_volumes_create(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp);
void api_volumes_get(struct daemon *d, const struct caller *c, struct http_request *req,
		     struct http_response *resp);
void api_volumes_patch(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp);
void api_volumes_delete(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp);
void api_volumes_attach(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp);
void api_volumes_detach(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp);
void api_pools_list(struct daemon *d, const struct caller *c, struct http_request *req,
		    struct http_response *resp);
void api_pools_get(struct daemon *d, const struct caller *c, struct http_request *req,
		   struct http_response *resp);
void api_pools_create(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp);
void api_pools_patch(struct daemon *d, const struct caller *c, struct http_request *req,
		     struct http_response *resp);
/* POST /pools/{name}/trim: a "pool.trim" task; GET /pools/{name} shows its result (last_trim). */
void api_pools_trim(struct daemon *d, const struct caller *c, struct http_request *req,
		    struct http_response *resp);
void api_pools_delete(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp);
void api_servers_reset(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp);
void api_servers_pause(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp);
void api_servers_resume(struct daemon *d, const struct caller *c, struct http_request *req,
			struct http_response *resp);
/* api-networks.c: networks, server interfaces, published ports */
void api_networks_list(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp);
void api_networks_create(struct daemon *d, const struct caller *c, struct http_request *req,
			 struct http_response *resp);
void api_networks_get(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp);
void api_networks_delete(struct daemon *d, const struct caller *c, struct http_request *req,
			 struct http_response *resp);
void api_interfaces_list(struct daemon *d, const struct caller *c, struct http_request *req,
			 struct http_response *resp);
void api_interfaces_attach(struct daemon *d, const struct caller *c, struct http_request *req,
			   struct http_response *resp);
void api_interfaces_detach(struct daemon *d, const struct caller *c, struct http_request *req,
			   struct http_response *resp);
void api_ports_list(struct daemon *d, const struct caller *c, struct http_request *req,
		    struct http_response *resp);
void api_server_ports_list(struct daemon *d, const struct caller *c, struct http_request *req,
			   struct http_response *resp);
void api_ports_publish(struct daemon *d, const struct caller *c, struct http_request *req,
		       struct http_response *resp);
void api_ports_remove(struct daemon *d, const struct caller *c, struct http_request *req,
		      struct http_response *resp);
void api_tasks_list(struct daemon *d, const struct caller *c, struct http_request *req,
		    struct http_response *resp);
void api_tasks_get(struct daemon *d, const struct caller *c, struct http_request *req,
		   struct http_response *resp);

/* template-import.c */
void api_templates_import(struct daemon *d, const struct caller *c, struct http_request *req,
			  struct http_response *resp);
void api_templates_delete(struct daemon *d, const struct caller *c, struct http_request *req,
			  struct http_response *resp);

#endif
