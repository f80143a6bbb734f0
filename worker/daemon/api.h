/*
 * The composer's worker API: one function per endpoint, JSON in and out.
 * Knows the protocol's status codes and what they mean for the caller;
 * knows nothing of what a job does. One struct api per thread.
 */
#ifndef IB_API_H
#define IB_API_H


#include <json-c/json.h>
#include <stdatomic.h>

#include "config.h"

enum api_rc {
	API_OK,
	API_NOJOB,	/* 204: no job for us, poll again */
	API_GONE,	/* the job is no longer ours (404, 400 code 6) */
	API_FORGOTTEN,	/* the server forgot this worker: register again */
	API_RETRY,	/* transient: transport error, 5xx, 401 after refresh */
	API_ERROR,	/* the server refused the request for good (4xx) */
	API_ABORTED	/* the caller's abort flag stopped the call */
};

/*
 * The composer generations whose result parsing differs, told apart by
 * its /openapi: 2024 has no UpdateJobPartial and refuses options in a
 * worker.server target result; 2026 requires them.
 */
#define SERVER_GEN_2024	2024
#define SERVER_GEN_2026	2026

struct api;

/*
 * address is "host:port" (https) or, with unix_socket, a socket path.
 * Returns NULL with a reason in err when the TLS files or the address
 * are unusable. The config must outlive the api.
 */
struct api	*api_new(const struct config *, const char *address,
		    int unix_socket, char *err, size_t errlen);
/* A new handle for another thread, sharing the OAuth token cache. */
struct api	*api_clone(struct api *);
/*
 * From now on every call of this handle stops (API_ABORTED) as soon as
 * *abort is set, unless the call names its own abort flag. NULL: none.
 */
void		 api_set_abort(struct api *, const atomic_int *abort);
/*
 * From now on every call of this handle that names no timeout of its own
 * gives up after seconds (0: the configured transfer_timeout).
 */
void		 api_set_timeout(struct api *, long seconds);
void		 api_free(struct api *);
/* The reason of the last failure (no secret in it). */
const char	*api_error(const struct api *);
/* The HTTP status of the last answer; 0 when none came (transport). */
long		 api_status(const struct api *);

/* POST /workers; *worker_id newly allocated. */
enum api_rc	 api_register(struct api *, const char *arch, char **worker_id);
/* POST /workers/{id}/status. */
enum api_rc	 api_worker_status(struct api *, const char *worker_id);
/*
 * POST /jobs, a long poll of at most timeout_s. On API_OK *job is the job
 * document (caller puts it). abort stops the poll.
 */
enum api_rc	 api_request_job(struct api *, const char *const *types,
		    const char *arch, const char *worker_id, long timeout_s,
		    const atomic_int *abort, json_object **job);
/* GET location: the job heartbeat; *canceled from the answer. */
enum api_rc	 api_job_status(struct api *, const char *location,
		    int *canceled);
/* PATCH location {"result": result} (result borrowed). */
enum api_rc	 api_update_job(struct api *, const char *location,
		    json_object *result);
/* PATCH location {"partial": partial}, only for servers that take it. */
enum api_rc	 api_update_partial(struct api *, const char *location,
		    json_object *partial);
/*
 * PUT artifact_location + name, streamed from path. progress (NULL: a log
 * line and STATUS= of the api's own) hears the bytes as they go out, from
 * inside this handle's transfer (safe 0): it must not use this handle.
 */
struct http_progress;
enum api_rc	 api_upload_artifact(struct api *,
		    const char *artifact_location, const char *name,
		    const char *path, const atomic_int *abort,
		    const struct http_progress *progress);
/* 1 when GET /openapi defines UpdateJobPartial, 0 when not, -1 unknown. */
int		 api_server_has_partial(struct api *);

#endif
