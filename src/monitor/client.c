/* SPDX-License-Identifier: Apache-2.0 */ /* placeholder: being written */
extern int carve_placeholder_client_monitor;
