/*
 * gpgv runs. See gpg.h.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "depsolver/gpg.h"
#include "exec.h"
#include "log.h"

#define KEY_MAX		(16u << 20)
#define GPGV_OUT_MAX	(64u << 20)
#define GPGV_STATUS_MAX	(1u << 20)	/* status lines, messages */

struct keyring *
gpg_keyring_new(char *err, size_t errlen)
{
	struct keyring	*kr = xcalloc(1, sizeof(*kr));
	const char	*tmp = getenv("TMPDIR");

	kr->dir = xasprintf("%s/ib-depsolve-gpg.XXXXXX", tmp && *tmp == '/' ?
	    tmp : "/tmp");
	if (mkdtemp(kr->dir) == NULL) {
		snprintf(err, errlen, "mkdtemp %s: %s", kr->dir,
		    strerror(errno));
		free(kr->dir);
		free(kr);
		return NULL;
	}
	kr->files = xcalloc(1, sizeof(char *));
	return kr;
}

void
gpg_keyring_free(struct keyring *kr)
{
	size_t	 i;

	if (kr == NULL)
		return;
	remove_tree(kr->dir);
	for (i = 0; i < kr->n; i++)
		free(kr->files[i]);
	free(kr->files);
	free(kr->dir);
	free(kr);
}

static void
keyring_push(struct keyring *kr, char *path)
{
	kr->files = xrealloc(kr->files, (kr->n + 2) * sizeof(char *));
	kr->files[kr->n++] = path;
	kr->files[kr->n] = NULL;
}

int
gpg_dearmor(const char *data, size_t len, struct buf *out)
{
	const char	*p, *end = data + len, *body, *stop;
	EVP_ENCODE_CTX	*ctx;
	unsigned char	 chunk[4096];
	int		 n, rv = -1;
	size_t		 left;

	buf_reset(out);
	p = memmem(data, len, "-----BEGIN PGP ", 15);
	if (p == NULL)
		return -1;
	/* The body starts after the first empty line past the header. */
	body = memmem(p, (size_t)(end - p), "\n\n", 2);
	if (body == NULL) {
		body = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		if (body == NULL)
			return -1;
		body += 4;
	} else
		body += 2;
	stop = memmem(body, (size_t)(end - body), "\n=", 2);
	if (stop == NULL)
		stop = memmem(body, (size_t)(end - body), "-----END", 8);
	if (stop == NULL)
		return -1;
	ctx = EVP_ENCODE_CTX_new();
	EVP_DecodeInit(ctx);
	for (p = body; p < stop; p += 2048) {
		int chunklen = 0;

		left = (size_t)(stop - p);
		if (left > 2048)
			left = 2048;
		if (EVP_DecodeUpdate(ctx, chunk, &chunklen,
		    (const unsigned char *)p, (int)left) < 0)
			goto cleanup;
		buf_add(out, chunk, (size_t)chunklen);
	}
	if (EVP_DecodeFinal(ctx, chunk, &n) < 0)
		goto cleanup;
	buf_add(out, chunk, (size_t)n);
	rv = out->len > 0 ? 0 : -1;
cleanup:
	EVP_ENCODE_CTX_free(ctx);
	return rv;
}

int
gpg_keyring_add_data(struct keyring *kr, const char *data, size_t len,
    char *err, size_t errlen)
{
	struct buf	 bin;
	char		*path;
	int		 rv = -1;

	buf_init(&bin);
	path = xasprintf("%s/key%zu.gpg", kr->dir, kr->n);
	if (memmem(data, len, "-----BEGIN PGP", 14) != NULL) {
		if (gpg_dearmor(data, len, &bin) == -1) {
			snprintf(err, errlen, "a key is not valid ASCII "
			    "armor");
			goto cleanup;
		}
		data = bin.data;
		len = bin.len;
	}
	if (write_file_atomic(path, data, len, 0600) == -1) {
		snprintf(err, errlen, "writing %s: %s", path, strerror(errno));
		goto cleanup;
	}
	keyring_push(kr, path);
	path = NULL;
	rv = 0;
cleanup:
	free(path);
	buf_free(&bin);
	return rv;
}

int
gpg_keyring_add_file(struct keyring *kr, const char *path, char *err,
    size_t errlen)
{
	char	*data;
	size_t	 len;
	int	 rv;

	if ((data = read_file(path, KEY_MAX, &len)) == NULL) {
		snprintf(err, errlen, "cannot read the keyring %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (memmem(data, len, "-----BEGIN PGP", 14) == NULL) {
		free(data);
		keyring_push(kr, xstrdup(path));
		return 0;
	}
	rv = gpg_keyring_add_data(kr, data, len, err, errlen);
	free(data);
	return rv;
}

/*
 * Runs gpgv with the keyrings and args; its status lines land in status,
 * its stderr in msg. Returns the exit code, or -1 when it could not run.
 */
static int
run_gpgv(const struct keyring *kr, const char **args, struct buf *status,
    struct buf *msg)
{
	static const char *const env[] = { "LC_ALL=C", NULL };
	struct exec_opts	  o;
	struct exec_result	  res;
	const char		**argv;
	size_t			  i, n = 0, nargs = 0;
	int			  code = -1;
	char			 *home = xasprintf("%s/home", kr->dir);

	mkdir(home, 0700);
	while (args[nargs] != NULL)
		nargs++;
	argv = xcalloc(8 + 2 * kr->n + nargs, sizeof(char *));
	argv[n++] = GPG_GPGV;
	argv[n++] = "--homedir";
	argv[n++] = home;
	argv[n++] = "--status-fd";
	argv[n++] = "1";
	for (i = 0; i < kr->n; i++) {
		argv[n++] = "--keyring";
		argv[n++] = kr->files[i];
	}
	for (i = 0; i < nargs; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.env_add = env;
	o.stdout_max = GPGV_STATUS_MAX;
	o.stderr_max = GPGV_STATUS_MAX;
	o.same_group = 1;	/* stopped with ib-depsolve */
	if (exec_run(&o, &res) == -1) {
		buf_printf(msg, "%s", res.error);
		goto cleanup;
	}
	buf_add(status, res.out.data, res.out.len);
	buf_add(msg, res.err.data, res.err.len);
	code = res.exited ? res.code : 128;
cleanup:
	exec_result_free(&res);
	free(argv);
	free(home);
	return code;
}

/* The return code field of an ERRSIG line (9: no public key). */
static int
errsig_rc(const char *line)
{
	int	 field = 0;

	for (; *line != '\0' && *line != '\n'; line++)
		if (*line == ' ' && ++field == 7)
			return atoi(line + 1);
	return -1;
}

/*
 * Status lines, as apt reads them: at least one VALIDSIG; a signature by
 * a key we do not have is ignored, any bad, expired or revoked one fails.
 */
static int
judge(const char *status, int code, const char *msg, char *err, size_t errlen)
{
	static const char *const bad[] = {
		"[GNUPG:] BADSIG ", "[GNUPG:] ERRSIG ", "[GNUPG:] EXPKEYSIG ",
		"[GNUPG:] REVKEYSIG ", "[GNUPG:] EXPSIG ",
	};
	const char	*line, *nl;
	size_t		 i;
	int		 valid = 0;

	for (line = status; *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			nl = line + strlen(line) - 1;
		if (strncmp(line, "[GNUPG:] VALIDSIG ", 18) == 0)
			valid++;
		for (i = 0; i < nitems(bad); i++) {
			if (strncmp(line, bad[i], strlen(bad[i])) != 0)
				continue;
			if (i == 1 && errsig_rc(line) == 9)
				continue;
			snprintf(err, errlen, "the signature does not verify: "
			    "%.*s", (int)(nl - line), line + 9);
			return -1;
		}
	}
	if (valid == 0) {
		snprintf(err, errlen, "no valid signature by a trusted key "
		    "(gpgv exit %d): %.300s", code, msg);
		return -1;
	}
	return 0;
}

static char *
tmpfile_with(const struct keyring *kr, const char *name, const char *data,
    size_t len, char *err, size_t errlen)
{
	char	*path = xasprintf("%s/%s", kr->dir, name);

	if (write_file_atomic(path, data, len, 0600) == -1) {
		snprintf(err, errlen, "writing %s: %s", path, strerror(errno));
		free(path);
		return NULL;
	}
	return path;
}

int
gpg_verify_clearsigned(const struct keyring *kr, const char *data,
    size_t len, struct buf *out, char *err, size_t errlen)
{
	struct buf	 status, msg;
	char		*in = NULL, *outpath = NULL, *text = NULL;
	const char	*args[5];
	size_t		 tlen;
	int		 code, rv = -1;

	buf_init(&status);
	buf_init(&msg);
	buf_reset(out);
	if (kr->n == 0) {
		snprintf(err, errlen, "no keyring to check the signature");
		return -1;
	}
	if ((in = tmpfile_with(kr, "signed", data, len, err, errlen)) == NULL)
		goto cleanup;
	outpath = xasprintf("%s/plain", kr->dir);
	unlink(outpath);
	args[0] = "--output";
	args[1] = outpath;
	args[2] = "--";
	args[3] = in;
	args[4] = NULL;
	code = run_gpgv(kr, args, &status, &msg);
	if (code == -1) {
		snprintf(err, errlen, "%s", msg.data ? msg.data : "gpgv");
		goto cleanup;
	}
	if (judge(status.data ? status.data : "", code,
	    msg.data ? msg.data : "", err, errlen) == -1)
		goto cleanup;
	if ((text = read_file(outpath, GPGV_OUT_MAX, &tlen)) == NULL) {
		snprintf(err, errlen, "gpgv gave no signed text");
		goto cleanup;
	}
	buf_add(out, text, tlen);
	rv = 0;
cleanup:
	if (in != NULL)
		unlink(in);
	if (outpath != NULL)
		unlink(outpath);
	free(in);
	free(outpath);
	free(text);
	buf_free(&status);
	buf_free(&msg);
	return rv;
}

int
gpg_verify_detached(const struct keyring *kr, const char *data, size_t len,
    const char *sig, size_t siglen, char *err, size_t errlen)
{
	struct buf	 status, msg;
	char		*in = NULL, *sigpath = NULL;
	const char	*args[4];
	int		 code, rv = -1;

	buf_init(&status);
	buf_init(&msg);
	if (kr->n == 0) {
		snprintf(err, errlen, "no keyring to check the signature");
		return -1;
	}
	if ((in = tmpfile_with(kr, "data", data, len, err, errlen)) == NULL ||
	    (sigpath = tmpfile_with(kr, "data.sig", sig, siglen, err,
	    errlen)) == NULL)
		goto cleanup;
	args[0] = "--";
	args[1] = sigpath;
	args[2] = in;
	args[3] = NULL;
	code = run_gpgv(kr, args, &status, &msg);
	if (code == -1) {
		snprintf(err, errlen, "%s", msg.data ? msg.data : "gpgv");
		goto cleanup;
	}
	if (judge(status.data ? status.data : "", code,
	    msg.data ? msg.data : "", err, errlen) == -1)
		goto cleanup;
	rv = 0;
cleanup:
	if (in != NULL)
		unlink(in);
	if (sigpath != NULL)
		unlink(sigpath);
	free(in);
	free(sigpath);
	buf_free(&status);
	buf_free(&msg);
	return rv;
}
