/*
 * A vSphere client for image imports, doing what the reference worker
 * asks govc for: a session (SessionManager.Login, its cookie a secret),
 * the datacenter, datastore, cluster pool and folder found by inventory
 * path, and an OVF import through an NFC lease (OvfManager.CreateImportSpec,
 * ResourcePool.ImportVApp, the disks POSTed to the lease's device URLs,
 * HttpNfcLeaseComplete). A VMDK is imported as govc import.vmdk does: in a
 * throwaway VM whose disk is detached before the VM is destroyed, leaving
 * [DATASTORE] NAME/NAME.vmdk; an OVA as govc import.ova does: the VM stays.
 * SOAP documents are built and read with libxml2. IB_VSPHERE_URL (tests)
 * replaces https://HOST.
 */
#ifndef IB_VSPHERE_H
#define IB_VSPHERE_H

#include <stdatomic.h>
#include <stdint.h>

struct vsphere_cfg {
	const char		*host;		/* HOST[:PORT] */
	const char		*username;
	const char		*password;	/* secret; copied */
	int			 insecure;	/* no TLS verification (govc -k) */
	long			 connect_timeout;
	int64_t			 poll_ms;	/* lease and task polls, 0: 1000 */
	int64_t			 op_timeout;	/* s a lease or task may take, 0: 1 h */
	const atomic_int	*abort;
};

struct vsphere_place {
	const char	*datacenter;
	const char	*cluster;
	const char	*datastore;
	const char	*folder;	/* NULL or "": the datacenter's vm folder */
};

struct vsphere;

/* NULL when the host is not a plain host[:port]. */
struct vsphere	*vsphere_new(const struct vsphere_cfg *);
void		 vsphere_free(struct vsphere *);
/* After a failure: why (vSphere's fault message, never a secret). */
const char	*vsphere_error(const struct vsphere *);
int		 vsphere_aborted(const struct vsphere *);
void		 vsphere_set_abort(struct vsphere *, const atomic_int *);

/* 1 for an inventory name we put in a path: no '/', no control chars. */
int	 vsphere_name_ok(const char *);

int	 vsphere_login(struct vsphere *);
int	 vsphere_logout(struct vsphere *);
/* Finds the four objects of place; -1 naming the one not found. */
int	 vsphere_locate(struct vsphere *, const struct vsphere_place *);
/*
 * Imports the streamOptimized VMDK at path as NAME/NAME.vmdk on the
 * located datastore (refused when it exists there).
 */
int	 vsphere_import_vmdk(struct vsphere *, const char *path,
	    const char *name);
/* Imports the OVA at path as the VM name. */
int	 vsphere_import_ova(struct vsphere *, const char *path,
	    const char *name);

#endif
