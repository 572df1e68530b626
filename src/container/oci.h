/* SPDX-License-Identifier: MIT */
/* oci.h: the two command lines of the container runtime. */
#ifndef DOMUS_CONTAINER_OCI_H
#define DOMUS_CONTAINER_OCI_H

/* oci_main: the binary called as domus-oci: runc/crun's command line. */
int oci_main(int argc, char **argv);

/* cmd_container: `domus container run|list|kill|delete ...`. */
int cmd_container(int argc, char **argv);

#endif
