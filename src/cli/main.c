/* SPDX-License-Identifier: Apache-2.0 */
/* carve: the command-line client of carved. Everything lives in cli.c and cmd-*.c. */
#include "cli/cli.h"

int main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
