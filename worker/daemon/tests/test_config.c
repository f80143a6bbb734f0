/*
 * The configuration: the reference example maps to the right fields, the
 * defaults are the documented ones, [worker] values are read and checked,
 * and every mistake is reported as FILE:LINE:COL: key: reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "util.h"

static char	 dir[] = "/tmp/test_config.XXXXXX";
static char	 path[64];

/* The reference worker's example file, every key with a non-default value. */
static const char example[] =
"base_path = \"/api/image-builder-worker/v1\"   # default \"/api/worker/v1\"\n"
"dnf-json = \"/usr/libexec/osbuild-depsolve-dnf\"\n"
"clean_store = true\n"
"deployment_channel = \"production\"\n"
"\n"
"[composer]\n"
"proxy = \"http://proxy.example.com\"\n"
"\n"
"[koji.\"kojihub.example.com\"]\n"
"relax_timeout_factor = 5\n"
"\n"
"[koji.\"kojihub.example.com\".kerberos]\n"
"principal = \"toucan-automation@EXAMPLE.COM\"\n"
"keytab = \"/etc/osbuild-worker/client.keytab\"\n"
"\n"
"[gcp]\n"
"credentials = \"/etc/osbuild-worker/gcp-creds\"\n"
"bucket = \"gcp-bucket\"\n"
"\n"
"[azure]\n"
"credentials = \"/etc/osbuild-worker/azure-creds\"\n"
"upload_threads = 8\n"
"\n"
"[aws]\n"
"credentials = \"/etc/osbuild-worker/aws-creds\"\n"
"s3_credentials = \"/etc/osbuild-worker/aws-s3-creds\"\n"
"bucket = \"buckethead\"\n"
"\n"
"[oci]\n"
"credentials = \"/etc/osbuild-worker/oci-creds\"\n"
"\n"
"[generic_s3]\n"
"credentials = \"/etc/osbuild-worker/s3-creds\"\n"
"endpoint = \"http://s3.example.com\"\n"
"region = \"us-east-1\"\n"
"bucket = \"slash\"\n"
"ca_bundle = \"/etc/osbuild-worker/s3-ca-bundle\"\n"
"skip_ssl_verification = true\n"
"\n"
"[authentication]\n"
"oauth_url = \"https://example.com/token\"\n"
"client_id = \"toucan\"\n"
"client_secret = \"/etc/osbuild-worker/client_secret\"\n"
"offline_token = \"/etc/osbuild-worker/offline_token\"\n"
"\n"
"[containers]\n"
"auth_file_path = \"/etc/osbuild-worker/containers-auth.json\"\n"
"domain = \"registry.example.com\"\n"
"path_prefix = \"images\"\n"
"cert_path = \"/etc/osbuild-worker/registry-certs\"\n"
"tls_verify = false\n"
"\n"
"[osbuild_executor]\n"
"type = \"aws.ec2\"\n"
"iam_profile = \"osbuild-worker\"\n"
"key_name = \"osbuild-worker-key\"\n"
"\n"
"[repository_mtls]\n"
"baseurl = \"https://cdn.example.com/content\"\n"
"ca = \"/etc/osbuild-worker/repo-ca.pem\"\n"
"mtls_client_key = \"/etc/osbuild-worker/repo-key.pem\"\n"
"mtls_client_cert = \"/etc/osbuild-worker/repo-cert.pem\"\n"
"proxy = \"http://proxy.example.com:3128\"\n"
"\n"
"[bootc_info_resolve]\n"
"cleanup_images = true\n";

static int
setup(void **state)
{
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/worker.toml", dir);
	return 0;
}

static int
teardown(void **state)
{
	return remove_tree(dir);
}

static void
put(const char *text)
{
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0600), 0);
}

/* Loads text; asserts success. */
static struct config *
load(const char *text)
{
	struct config	*c;
	char		 err[512];

	put(text);
	c = config_load(path, 0, err, sizeof(err));
	if (c == NULL)
		fail_msg("refused: %s", err);
	return c;
}

/* Loads text; asserts failure with exactly "PATH:" want. */
static void
refuse(const char *text, const char *want)
{
	struct config	*c;
	char		 err[512], full[512];

	put(text);
	c = config_load(path, 0, err, sizeof(err));
	if (c != NULL) {
		config_free(c);
		fail_msg("accepted: %s", text);
	}
	snprintf(full, sizeof(full), "%s:%s", path, want);
	if (strcmp(err, full) != 0)
		fail_msg("want \"%s\", got \"%s\"", full, err);
}

static void
check_defaults(const struct config *c)
{
	struct utsname	 u;

	assert_string_equal(c->base_path, "/api/worker/v1");
	assert_string_equal(c->dnf_json, "/usr/libexec/osbuild-depsolve-dnf");
	assert_int_equal(c->clean_store, 0);
	assert_string_equal(c->deployment_channel, "local");
	assert_null(c->composer_proxy);
	assert_null(c->koji);
	assert_int_equal(c->nkoji, 0);
	assert_null(c->gcp.credentials);
	assert_null(c->gcp.bucket);
	assert_int_equal(c->azure.present, 0);
	assert_null(c->azure.credentials);
	assert_null(c->aws.credentials);
	assert_null(c->aws.s3_credentials);
	assert_null(c->aws.bucket);
	assert_null(c->aws.endpoint);
	assert_null(c->aws.s3_endpoint);
	assert_int_equal(c->aws.s3_part_size, 64 << 20);
	assert_int_equal(c->aws.s3_parallel, 4);
	assert_null(c->oci.credentials);
	assert_null(c->generic_s3.endpoint);
	assert_int_equal(c->generic_s3.skip_ssl_verification, 0);
	assert_int_equal(c->authentication.present, 0);
	assert_null(c->authentication.oauth_url);
	assert_null(c->containers.domain);
	assert_int_equal(c->containers.tls_verify, 1);
	assert_string_equal(c->osbuild_executor.type, "host");
	assert_null(c->osbuild_executor.iam_profile);
	assert_null(c->repository_mtls.baseurl);
	assert_int_equal(c->bootc_info_resolve.cleanup_images, 0);

	assert_int_equal(c->worker.poll_interval, 0);
	assert_int_equal(c->worker.request_timeout, 600);
	assert_int_equal(c->worker.heartbeat_interval, 15);
	assert_int_equal(c->worker.status_interval, 60);
	assert_int_equal(c->worker.drain_timeout, 0);
	assert_int_equal(c->worker.cancel_grace, 10);
	assert_int_equal(c->worker.connect_timeout, 30);
	assert_int_equal(c->worker.transfer_timeout, 300);
	assert_int_equal(c->worker.low_speed_time, 60);
	assert_int_equal(c->worker.max_body, 64 << 20);
	assert_int_equal(c->worker.backoff_max, 60);
	assert_int_equal(c->worker.log_format, LOG_TEXT);
	assert_true(c->worker.cache_max_bytes == INT64_C(20) << 30);
	assert_true(c->worker.cache_min_free == INT64_C(2) << 30);
	assert_null(c->worker.job_types);
	assert_int_equal(c->worker.njob_types, 0);
	assert_int_equal(c->worker.partial, PARTIAL_AUTO);
	assert_string_equal(c->worker.osbuild, "osbuild");
	assert_int_equal(uname(&u), 0);
	assert_string_equal(c->worker.arch, u.machine);
	assert_int_equal(c->worker.file_resolve_max, 32 << 20);
	assert_int_equal(c->worker.scale_in_protection, 0);
	assert_null(c->worker.tls_ca);
	assert_null(c->worker.tls_cert);
	assert_null(c->worker.tls_key);
}

static void
test_defaults(void **state)
{
	struct config	*c;
	char		 err[256];

	unsetenv("CACHE_DIRECTORY");
	c = config_defaults();
	check_defaults(c);
	assert_string_equal(c->worker.cache_directory,
	    "/var/cache/osbuild-worker");
	config_free(c);

	/* systemd's CacheDirectory= may list several paths. */
	setenv("CACHE_DIRECTORY", "/var/cache/ib:/var/cache/other", 1);
	c = config_defaults();
	assert_string_equal(c->worker.cache_directory, "/var/cache/ib");
	config_free(c);
	setenv("CACHE_DIRECTORY", "/srv/cache", 1);
	c = config_defaults();
	assert_string_equal(c->worker.cache_directory, "/srv/cache");
	config_free(c);
	unsetenv("CACHE_DIRECTORY");

	/* An empty file and one of comments are the defaults too. */
	c = load("");
	check_defaults(c);
	config_free(c);
	c = load("# nothing\n\n[worker]\n");
	check_defaults(c);
	config_free(c);

	config_free(NULL);
	(void)err;
}

static void
test_example(void **state)
{
	struct config	*c = load(example);

	assert_string_equal(c->base_path, "/api/image-builder-worker/v1");
	assert_string_equal(c->dnf_json, "/usr/libexec/osbuild-depsolve-dnf");
	assert_int_equal(c->clean_store, 1);
	assert_string_equal(c->deployment_channel, "production");
	assert_string_equal(c->composer_proxy, "http://proxy.example.com");
	assert_int_equal(c->nkoji, 1);
	assert_string_equal(c->koji[0].host, "kojihub.example.com");
	assert_int_equal(c->koji[0].relax_timeout_factor, 5);
	assert_string_equal(c->koji[0].principal,
	    "toucan-automation@EXAMPLE.COM");
	assert_string_equal(c->koji[0].keytab,
	    "/etc/osbuild-worker/client.keytab");
	assert_string_equal(c->gcp.credentials,
	    "/etc/osbuild-worker/gcp-creds");
	assert_string_equal(c->gcp.bucket, "gcp-bucket");
	assert_int_equal(c->azure.present, 1);
	assert_string_equal(c->azure.credentials,
	    "/etc/osbuild-worker/azure-creds");
	assert_int_equal(c->azure.upload_threads, 8);
	assert_string_equal(c->aws.credentials,
	    "/etc/osbuild-worker/aws-creds");
	assert_string_equal(c->aws.s3_credentials,
	    "/etc/osbuild-worker/aws-s3-creds");
	assert_string_equal(c->aws.bucket, "buckethead");
	assert_string_equal(c->oci.credentials,
	    "/etc/osbuild-worker/oci-creds");
	assert_string_equal(c->generic_s3.credentials,
	    "/etc/osbuild-worker/s3-creds");
	assert_string_equal(c->generic_s3.endpoint, "http://s3.example.com");
	assert_string_equal(c->generic_s3.region, "us-east-1");
	assert_string_equal(c->generic_s3.bucket, "slash");
	assert_string_equal(c->generic_s3.ca_bundle,
	    "/etc/osbuild-worker/s3-ca-bundle");
	assert_int_equal(c->generic_s3.skip_ssl_verification, 1);
	assert_int_equal(c->authentication.present, 1);
	assert_string_equal(c->authentication.oauth_url,
	    "https://example.com/token");
	assert_string_equal(c->authentication.client_id, "toucan");
	assert_string_equal(c->authentication.client_secret,
	    "/etc/osbuild-worker/client_secret");
	assert_string_equal(c->authentication.offline_token,
	    "/etc/osbuild-worker/offline_token");
	assert_string_equal(c->containers.auth_file_path,
	    "/etc/osbuild-worker/containers-auth.json");
	assert_string_equal(c->containers.domain, "registry.example.com");
	assert_string_equal(c->containers.path_prefix, "images");
	assert_string_equal(c->containers.cert_path,
	    "/etc/osbuild-worker/registry-certs");
	assert_int_equal(c->containers.tls_verify, 0);
	assert_string_equal(c->osbuild_executor.type, "aws.ec2");
	assert_string_equal(c->osbuild_executor.iam_profile, "osbuild-worker");
	assert_string_equal(c->osbuild_executor.key_name,
	    "osbuild-worker-key");
	assert_string_equal(c->repository_mtls.baseurl,
	    "https://cdn.example.com/content");
	assert_string_equal(c->repository_mtls.ca,
	    "/etc/osbuild-worker/repo-ca.pem");
	assert_string_equal(c->repository_mtls.mtls_client_key,
	    "/etc/osbuild-worker/repo-key.pem");
	assert_string_equal(c->repository_mtls.mtls_client_cert,
	    "/etc/osbuild-worker/repo-cert.pem");
	assert_string_equal(c->repository_mtls.proxy,
	    "http://proxy.example.com:3128");
	assert_int_equal(c->bootc_info_resolve.cleanup_images, 1);
	/* [worker] is absent: ours keep their defaults. */
	assert_int_equal(c->worker.heartbeat_interval, 15);
	config_free(c);
}

static void
test_sections_present(void **state)
{
	struct config	*c;

	/* [azure] alone: 16 threads; 0 means the default as well. */
	c = load("[azure]\n");
	assert_int_equal(c->azure.present, 1);
	assert_int_equal(c->azure.upload_threads, 16);
	assert_int_equal(c->authentication.present, 0);
	config_free(c);
	c = load("[azure]\nupload_threads = 0\n[authentication]\n");
	assert_int_equal(c->azure.upload_threads, 16);
	assert_int_equal(c->authentication.present, 1);
	config_free(c);
	c = load("azure.upload_threads = 3\n");
	assert_int_equal(c->azure.present, 1);
	assert_int_equal(c->azure.upload_threads, 3);
	config_free(c);

	/* [pulp], the reference's fallback for the pulp.ostree target. */
	c = load("[pulp]\nserver_address = \"https://pulp.example\"\n"
	    "credentials = \"/etc/osbuild-worker/pulp.json\"\n");
	assert_string_equal(c->pulp.server_address, "https://pulp.example");
	assert_string_equal(c->pulp.credentials,
	    "/etc/osbuild-worker/pulp.json");
	config_free(c);

	/* Several koji hubs, in file order; kerberos is optional. */
	c = load("[koji.\"a.example\"]\n[koji.'b.example'.kerberos]\n"
	    "keytab = \"/k\"\n[koji.\"a.example\".kerberos]\n"
	    "principal = \"p@A\"\n");
	assert_int_equal(c->nkoji, 2);
	assert_string_equal(c->koji[0].host, "a.example");
	assert_int_equal(c->koji[0].relax_timeout_factor, 0);
	assert_string_equal(c->koji[0].principal, "p@A");
	assert_null(c->koji[0].keytab);
	assert_string_equal(c->koji[1].host, "b.example");
	assert_null(c->koji[1].principal);
	assert_string_equal(c->koji[1].keytab, "/k");
	config_free(c);

	c = load("[osbuild_executor]\ntype = \"qemu.kvm\"\n");
	assert_string_equal(c->osbuild_executor.type, "qemu.kvm");
	/* The VM's defaults. */
	assert_string_equal(c->osbuild_executor.image,
	    "/var/lib/ib-worker/executor.qcow2");
	assert_int_equal(c->osbuild_executor.vcpus, 2);
	assert_int_equal(c->osbuild_executor.memory, 2048);
	assert_int_equal(c->osbuild_executor.disk, 20);
	assert_string_equal(c->osbuild_executor.accel, "auto");
	assert_string_equal(c->osbuild_executor.network, "nat");
	assert_string_equal(c->osbuild_executor.libvirt_uri, "qemu:///system");
	assert_int_equal(c->osbuild_executor.boot_timeout, 600);
	config_free(c);

	c = load("[osbuild_executor]\ntype = \"qemu.kvm\"\n"
	    "image = \"/srv/base.qcow2\"\nvcpus = 4\nmemory = 4096\n"
	    "disk = 30\naccel = \"tcg\"\nnetwork = \"none\"\n"
	    "libvirt_uri = \"qemu:///session\"\nboot_timeout = 900\n"
	    "build_timeout = 7200\n");
	assert_string_equal(c->osbuild_executor.image, "/srv/base.qcow2");
	assert_int_equal(c->osbuild_executor.vcpus, 4);
	assert_int_equal(c->osbuild_executor.memory, 4096);
	assert_int_equal(c->osbuild_executor.disk, 30);
	assert_string_equal(c->osbuild_executor.accel, "tcg");
	assert_string_equal(c->osbuild_executor.network, "none");
	assert_string_equal(c->osbuild_executor.libvirt_uri,
	    "qemu:///session");
	assert_int_equal(c->osbuild_executor.boot_timeout, 900);
	assert_int_equal(c->osbuild_executor.build_timeout, 7200);
	config_free(c);

	c = load("[osbuild_executor]\ntype = \"aws.ec2\"\nami = \"ami-0a\"\n"
	    "subnet_id = \"subnet-0b\"\nsecurity_group = \"sg-0c\"\n"
	    "region = \"eu-west-1\"\nagent_port = 9000\n");
	assert_string_equal(c->osbuild_executor.ami, "ami-0a");
	assert_string_equal(c->osbuild_executor.subnet_id, "subnet-0b");
	assert_string_equal(c->osbuild_executor.security_group, "sg-0c");
	assert_string_equal(c->osbuild_executor.region, "eu-west-1");
	assert_string_equal(c->osbuild_executor.instance_type, "m6a.large");
	assert_int_equal(c->osbuild_executor.agent_port, 9000);
	config_free(c);
}

static void
test_worker(void **state)
{
	struct config	*c;

	c = load("[worker]\n"
	    "poll_interval = 5\nrequest_timeout = 120\n"
	    "heartbeat_interval = 60\nstatus_interval = 30\n"
	    "drain_timeout = 3_600\ncancel_grace = 0\nconnect_timeout = 5\n"
	    "transfer_timeout = 900\nmax_body = 0x100000\nbackoff_max = 120\n"
	    "log_format = \"json\"\ncache_max_bytes = 10_737_418_240\n"
	    "cache_min_free = 0\ncache_directory = \"/srv/ib-cache\"\n"
	    "job_types = [\"osbuild\", \"depsolve\",\n  \"file-resolve\",]\n"
	    "partial = false\nosbuild = \"/usr/local/bin/osbuild\"\n"
	    "arch = \"aarch64\"\nfile_resolve_max = 1024\n"
	    "scale_in_protection = true\nlow_speed_time = 7\n"
	    "tls_ca = \"/etc/ib/ca.pem\"\ntls_cert = \"/etc/ib/crt.pem\"\n"
	    "tls_key = \"/etc/ib/key.pem\"\n");
	assert_int_equal(c->worker.poll_interval, 5);
	assert_int_equal(c->worker.request_timeout, 120);
	assert_int_equal(c->worker.heartbeat_interval, 60);
	assert_int_equal(c->worker.status_interval, 30);
	assert_int_equal(c->worker.drain_timeout, 3600);
	assert_int_equal(c->worker.cancel_grace, 0);
	assert_int_equal(c->worker.connect_timeout, 5);
	assert_int_equal(c->worker.transfer_timeout, 900);
	assert_int_equal(c->worker.low_speed_time, 7);
	assert_int_equal(c->worker.max_body, 1 << 20);
	assert_int_equal(c->worker.backoff_max, 120);
	assert_int_equal(c->worker.log_format, LOG_JSON);
	assert_true(c->worker.cache_max_bytes == INT64_C(10) << 30);
	assert_int_equal(c->worker.cache_min_free, 0);
	assert_string_equal(c->worker.cache_directory, "/srv/ib-cache");
	assert_int_equal(c->worker.njob_types, 3);
	assert_string_equal(c->worker.job_types[0], "osbuild");
	assert_string_equal(c->worker.job_types[1], "depsolve");
	assert_string_equal(c->worker.job_types[2], "file-resolve");
	assert_int_equal(c->worker.partial, PARTIAL_OFF);
	assert_string_equal(c->worker.osbuild, "/usr/local/bin/osbuild");
	assert_string_equal(c->worker.arch, "aarch64");
	assert_int_equal(c->worker.file_resolve_max, 1024);
	assert_int_equal(c->worker.scale_in_protection, 1);
	assert_string_equal(c->worker.tls_ca, "/etc/ib/ca.pem");
	assert_string_equal(c->worker.tls_cert, "/etc/ib/crt.pem");
	assert_string_equal(c->worker.tls_key, "/etc/ib/key.pem");
	config_free(c);

	c = load("[worker]\npartial = true\nlog_format = \"text\"\n");
	assert_int_equal(c->worker.partial, PARTIAL_ON);
	assert_int_equal(c->worker.log_format, LOG_TEXT);
	config_free(c);
	c = load("worker = { partial = \"auto\", heartbeat_interval = 1 }\n");
	assert_int_equal(c->worker.partial, PARTIAL_AUTO);
	assert_int_equal(c->worker.heartbeat_interval, 1);
	config_free(c);
}

/* Our [aws] keys: private endpoints and the S3 upload's tuning. */
static void
test_aws(void **state)
{
	struct config	*c;

	c = load("[aws]\nbucket = \"b\"\n"
	    "endpoint = \"https://vpce-1.ec2.eu-west-1.vpce.amazonaws.com\"\n"
	    "s3_endpoint = \"http://127.0.0.1:9000\"\n"
	    "s3_part_size = 5_242_880\ns3_parallel = 64\n");
	assert_string_equal(c->aws.bucket, "b");
	assert_string_equal(c->aws.endpoint,
	    "https://vpce-1.ec2.eu-west-1.vpce.amazonaws.com");
	assert_string_equal(c->aws.s3_endpoint, "http://127.0.0.1:9000");
	assert_int_equal(c->aws.s3_part_size, 5 << 20);
	assert_int_equal(c->aws.s3_parallel, 64);
	config_free(c);
	/* S3's largest part, 5 GiB, and one part at a time. */
	c = load("[aws]\ns3_part_size = 5368709120\ns3_parallel = 1\n");
	assert_true(c->aws.s3_part_size == INT64_C(5) << 30);
	assert_int_equal(c->aws.s3_parallel, 1);
	config_free(c);

	/* S3 refuses parts under 5 MiB (but the last) and over 5 GiB. */
	refuse("[aws]\ns3_part_size = 5242879\n",
	    "2:1: aws.s3_part_size: must be between 5242880 and 5368709120");
	refuse("[aws]\ns3_part_size = 5368709121\n",
	    "2:1: aws.s3_part_size: must be between 5242880 and 5368709120");
	refuse("[aws]\ns3_parallel = 0\n",
	    "2:1: aws.s3_parallel: must be between 1 and 64");
	refuse("[aws]\ns3_parallel = 65\n",
	    "2:1: aws.s3_parallel: must be between 1 and 64");
	refuse("[aws]\ns3_parallel = \"4\"\n",
	    "2:1: aws.s3_parallel: expected an integer, found a string");
	refuse("[aws]\nendpoint = \"\"\n",
	    "2:1: aws.endpoint: must not be empty");
	refuse("[aws]\ns3_endpoint = 9000\n",
	    "2:1: aws.s3_endpoint: expected a string, found an integer");
}

static void
test_type_errors(void **state)
{
	refuse("base_path = 1\n",
	    "1:1: base_path: expected a string, found an integer");
	refuse("\n  clean_store = \"yes\"\n",
	    "2:3: clean_store: expected a boolean, found a string");
	refuse("[gcp]\nbucket = [\"b\"]\n",
	    "2:1: gcp.bucket: expected a string, found an array");
	refuse("[generic_s3]\nskip_ssl_verification = 1\n",
	    "2:1: generic_s3.skip_ssl_verification: expected a boolean, "
	    "found an integer");
	refuse("[azure]\nupload_threads = \"8\"\n",
	    "2:1: azure.upload_threads: expected an integer, found a string");
	refuse("[worker]\npoll_interval = \"5\"\n",
	    "2:1: worker.poll_interval: expected an integer, found a string");
	refuse("[worker]\nscale_in_protection = 1\n",
	    "2:1: worker.scale_in_protection: expected a boolean, found an "
	    "integer");
	refuse("[worker]\nlog_format = true\n",
	    "2:1: worker.log_format: expected a string, found a boolean");
	refuse("[worker]\njob_types = \"osbuild\"\n",
	    "2:1: worker.job_types: expected an array, found a string");
	refuse("[worker]\njob_types = [\"osbuild\",\n 7]\n",
	    "3:2: worker.job_types[1]: expected a string, found an integer");
	refuse("[worker]\npartial = 1\n",
	    "2:1: worker.partial: expected \"auto\", true or false");
	refuse("[worker]\ncache_directory = {}\n",
	    "2:1: worker.cache_directory: expected a string, found a table");
	refuse("[worker.poll_interval]\n",
	    "1:9: worker.poll_interval: expected an integer, found a table");
	refuse("gcp = \"x\"\n", "1:1: gcp: expected a table, found a string");
	refuse("worker = 1\n",
	    "1:1: worker: expected a table, found an integer");
	refuse("koji = []\n", "1:1: koji: expected a table, found an array");
	refuse("[koji]\nhub = 1\n",
	    "2:1: koji.\"hub\": expected a table, found an integer");
	refuse("[koji.\"\"]\n", "1:7: koji.\"\": the hub's name is empty");
	refuse("[koji.hub]\nkerberos = \"x\"\n",
	    "2:1: koji.\"hub\".kerberos: expected a table, found a string");
	refuse("[koji.hub]\nrelax_timeout_factor = true\n",
	    "2:1: koji.\"hub\".relax_timeout_factor: expected an integer, "
	    "found a boolean");
	refuse("[koji.hub.kerberos]\nkeytab = 1\n",
	    "2:1: koji.\"hub\".kerberos.keytab: expected a string, found an "
	    "integer");
}

static void
test_value_errors(void **state)
{
	refuse("[worker]\nheartbeat_interval = 61\n",
	    "2:1: worker.heartbeat_interval: must be between 1 and 60");
	refuse("[worker]\nheartbeat_interval = 0\n",
	    "2:1: worker.heartbeat_interval: must be between 1 and 60");
	refuse("[worker]\npoll_interval = -1\n",
	    "2:1: worker.poll_interval: must be between 0 and 3600");
	refuse("[worker]\nrequest_timeout = 0\n",
	    "2:1: worker.request_timeout: must be between 1 and 86400");
	refuse("[worker]\nstatus_interval = 0\n",
	    "2:1: worker.status_interval: must be between 1 and 3600");
	refuse("[worker]\nconnect_timeout = 0\n",
	    "2:1: worker.connect_timeout: must be between 1 and 3600");
	refuse("[worker]\ntransfer_timeout = -5\n",
	    "2:1: worker.transfer_timeout: must be between 1 and 86400");
	refuse("[worker]\ndrain_timeout = -1\n",
	    "2:1: worker.drain_timeout: must be between 0 and 604800");
	refuse("[worker]\ncancel_grace = 3601\n",
	    "2:1: worker.cancel_grace: must be between 0 and 3600");
	refuse("[worker]\nmax_body = 100\n",
	    "2:1: worker.max_body: must be between 1024 and 1073741824");
	refuse("[worker]\nbackoff_max = 0\n",
	    "2:1: worker.backoff_max: must be between 1 and 3600");
	refuse("[worker]\ncache_max_bytes = -1\n",
	    "2:1: worker.cache_max_bytes: must be at least 0");
	refuse("[worker]\ncache_min_free = -1\n",
	    "2:1: worker.cache_min_free: must be at least 0");
	refuse("[worker]\nfile_resolve_max = 0\n",
	    "2:1: worker.file_resolve_max: must be at least 1");
	refuse("[azure]\nupload_threads = -1\n",
	    "2:1: azure.upload_threads: must be at least 0");
	refuse("[koji.hub]\nrelax_timeout_factor = -2\n",
	    "2:1: koji.\"hub\".relax_timeout_factor: must be at least 0");
	refuse("[worker]\nlog_format = \"xml\"\n",
	    "2:1: worker.log_format: must be \"text\" or \"json\"");
	refuse("[worker]\npartial = \"maybe\"\n",
	    "2:1: worker.partial: expected \"auto\", true or false");
	refuse("[worker]\njob_types = []\n",
	    "2:1: worker.job_types: must not be empty (leave it out to run "
	    "every job type)");
	refuse("[worker]\njob_types = [\"osbuild\", \"osbuild\"]\n",
	    "2:25: worker.job_types: \"osbuild\" is listed twice");
	refuse("[worker]\njob_types = [\"a b\"]\n",
	    "2:14: worker.job_types[0]: not a job type name");
	refuse("[worker]\ncache_directory = \"cache\"\n",
	    "2:1: worker.cache_directory: must be an absolute path");
	refuse("[worker]\ntls_key = \"key.pem\"\n",
	    "2:1: worker.tls_key: must be an absolute path");
	refuse("[worker]\nosbuild = \"\"\n",
	    "2:1: worker.osbuild: must not be empty");
	refuse("[worker]\narch = \"x86/64\"\n",
	    "2:1: worker.arch: must be 1 to 64 letters, digits or \"._:-\"");
	refuse("[osbuild_executor]\ntype = \"docker\"\n",
	    "2:1: osbuild_executor.type: must be \"host\", \"aws.ec2\" or "
	    "\"qemu.kvm\"");
	refuse("[osbuild_executor]\naccel = \"hvf\"\n",
	    "2:1: osbuild_executor.accel: must be \"auto\", \"kvm\" or "
	    "\"tcg\"");
	refuse("[osbuild_executor]\nnetwork = \"bridge\"\n",
	    "2:1: osbuild_executor.network: must be \"nat\" or \"none\"");
	refuse("[osbuild_executor]\nimage = \"base.qcow2\"\n",
	    "2:1: osbuild_executor.image: must be an absolute path");
	/* TOML mistakes come through with their place. */
	refuse("[worker]\npoll_interval = 1.5\n",
	    "2:17: floating-point numbers are not supported");
	refuse("[gcp]\nbucket = \"b\"\nbucket = \"c\"\n",
	    "3:1: duplicate key gcp.bucket (first defined at line 2)");
}

/* Runs config_load on text with stderr going to a file; returns it. */
static char *
load_capturing(const char *text, struct config **cp)
{
	char	 out[80], err[256], *s;
	int	 fd, saved;

	put(text);
	snprintf(out, sizeof(out), "%s/stderr", dir);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd != -1);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	*cp = config_load(path, 0, err, sizeof(err));
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	s = read_file(out, 1 << 20, NULL);
	assert_non_null(s);
	return s;
}

static void
test_unknown_keys(void **state)
{
	struct config	*c;
	char		*log, want[256];

	log = load_capturing("deployment_channel = \"stage\"\n"
	    "colour = \"red\"\n[gcp]\nbucket = \"b\"\nregion = \"r\"\n"
	    "[future]\nx = 1\n[worker]\nturbo = true\n"
	    "[koji.hub]\nspeed = 1\n[koji.hub.kerberos]\nrealm = \"R\"\n", &c);
	assert_non_null(c);
	/* Known keys around the unknown ones are still read. */
	assert_string_equal(c->deployment_channel, "stage");
	assert_string_equal(c->gcp.bucket, "b");
	assert_int_equal(c->nkoji, 1);
	config_free(c);
	snprintf(want, sizeof(want), "%s:2: unknown key colour, ignored",
	    path);
	assert_non_null(strstr(log, want));
	snprintf(want, sizeof(want), "%s:5: unknown key gcp.region", path);
	assert_non_null(strstr(log, want));
	snprintf(want, sizeof(want), "%s:6: unknown table future", path);
	assert_non_null(strstr(log, want));
	snprintf(want, sizeof(want), "%s:9: unknown key worker.turbo", path);
	assert_non_null(strstr(log, want));
	snprintf(want, sizeof(want), "%s:11: unknown key koji.\"hub\".speed",
	    path);
	assert_non_null(strstr(log, want));
	snprintf(want, sizeof(want),
	    "%s:13: unknown key koji.\"hub\".kerberos.realm", path);
	assert_non_null(strstr(log, want));
	free(log);

	/* A known file yields no warning at all. */
	log = load_capturing(example, &c);
	assert_non_null(c);
	config_free(c);
	assert_string_equal(log, "");
	free(log);
}

static void
test_missing_and_unreadable(void **state)
{
	struct config	*c;
	char		 err[256], missing[96], want[160];

	snprintf(missing, sizeof(missing), "%s/nope.toml", dir);
	c = config_load(missing, 1, err, sizeof(err));
	assert_non_null(c);
	check_defaults(c);
	config_free(c);

	c = config_load(missing, 0, err, sizeof(err));
	assert_null(c);
	snprintf(want, sizeof(want), "%s: %s", missing, strerror(ENOENT));
	assert_string_equal(err, want);

	/* A directory is not a missing file, even when missing_ok. */
	c = config_load(dir, 1, err, sizeof(err));
	assert_null(c);
	snprintf(want, sizeof(want), "%s: %s", dir, strerror(EISDIR));
	assert_string_equal(err, want);

	/* No room for a message is fine too. */
	assert_null(config_load(missing, 0, NULL, 0));
}

static void
test_too_large(void **state)
{
	struct config	*c;
	char		*big, err[256], want[160];
	size_t		 n = 1024 * 1024 + 1;

	big = xmalloc(n);
	memset(big, '\n', n);
	assert_int_equal(write_file_atomic(path, big, n, 0600), 0);
	free(big);
	c = config_load(path, 1, err, sizeof(err));
	assert_null(c);
	snprintf(want, sizeof(want), "%s: larger than 1 MiB", path);
	assert_string_equal(err, want);
}

/* Where each key was set, for -n's messages; the limit's bounds. */
static void
test_where_and_fault_limit(void **state)
{
	struct config	*c;
	char		 buf[256], want[256];

	(void)state;
	c = load("\n[worker]\n  machine_fault_limit = 5\nosbuild = \"/x/b\"\n");
	assert_int_equal(c->worker.machine_fault_limit, 5);
	snprintf(want, sizeof(want), "%s:3:3: worker.machine_fault_limit", path);
	assert_string_equal(config_where(c, "worker.machine_fault_limit", buf,
	    sizeof(buf)), want);
	snprintf(want, sizeof(want), "%s:4:1: worker.osbuild", path);
	assert_string_equal(config_where(c, "worker.osbuild", buf,
	    sizeof(buf)), want);
	snprintf(want, sizeof(want), "%s: dnf-json (default)", path);
	assert_string_equal(config_where(c, "dnf-json", buf, sizeof(buf)),
	    want);
	config_free(c);
	c = load("");
	assert_int_equal(c->worker.machine_fault_limit, 3);
	config_free(c);
	refuse("[worker]\nmachine_fault_limit = 0\n",
	    "2:1: worker.machine_fault_limit: must be between 1 and 1000");
}

/* A default builder or depsolver that is absent gives way to ib-*. */
static void
test_native_fallbacks(void **state)
{
	struct config	*c;
	char		 bin[96], f[128], *oldpath;
	int		 fd;

	(void)state;
	snprintf(bin, sizeof(bin), "%s/bin", dir);
	assert_int_equal(mkdir(bin, 0755), 0);
	snprintf(f, sizeof(f), "%s/ib-build", bin);
	assert_true((fd = open(f, O_CREAT | O_WRONLY, 0755)) >= 0);
	close(fd);
	setenv("IB_FALLBACK_BINDIR", bin, 1);
	oldpath = getenv("PATH") ? xstrdup(getenv("PATH")) : NULL;
	setenv("PATH", "/nonexistent", 1);

	c = load("");
	assert_string_equal(c->worker.osbuild, f);
	/* No ib-depsolve there: the default stays, -n will say so. */
	assert_string_equal(c->dnf_json, CONFIG_DEFAULT_DNFJSON);
	assert_non_null(strstr(c->fallback_note, "worker.osbuild: the "
	    "default osbuild is absent"));
	config_free(c);
	/* A value the file sets is kept, even when absent. */
	c = load("[worker]\nosbuild = \"osbuild\"\n");
	assert_string_equal(c->worker.osbuild, "osbuild");
	assert_null(c->fallback_note);
	config_free(c);

	snprintf(f, sizeof(f), "%s/ib-depsolve", bin);
	assert_true((fd = open(f, O_CREAT | O_WRONLY, 0755)) >= 0);
	close(fd);
	c = load("");
	assert_string_equal(c->dnf_json, f);
	config_free(c);

	unsetenv("IB_FALLBACK_BINDIR");
	if (oldpath != NULL)
		setenv("PATH", oldpath, 1);
	free(oldpath);
	unlink(f);
	snprintf(f, sizeof(f), "%s/ib-build", bin);
	unlink(f);
	rmdir(bin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_sections_present),
		cmocka_unit_test(test_worker),
		cmocka_unit_test(test_aws),
		cmocka_unit_test(test_type_errors),
		cmocka_unit_test(test_value_errors),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_missing_and_unreadable),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_where_and_fault_limit),
		cmocka_unit_test(test_native_fallbacks),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
