/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm: QEMU virtual machines (a later issue). This module will build QEMU command lines (KVM when
 * /dev/kvm is usable, TCG otherwise; explicit formats everywhere) and speak QMP over a unix
 * socket. The daemon reaches it only through the server-kind interface in src/daemon/kind.h
 * (kind "vm"), beside the "container" kind, so both share one object model and API.
 * Nothing is implemented yet; the daemon refuses kind "vm" with a clear 422.
 */
#ifndef CARVE_VM_H
#define CARVE_VM_H
#endif
