/* SPDX-License-Identifier: Apache-2.0 */
/*
 * meter: usage samples, the append-only ledger and invoices (a later issue).
 */
#ifndef CARVE_METER_H
#define CARVE_METER_H
#endif
