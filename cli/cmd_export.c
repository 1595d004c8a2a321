/*
 * `xcensus export`: placeholder until the command lands (being written now).
 */
#include <stdio.h>

#include "commands.h"

/* Not yet implemented: says so and fails. */
int cmd_export(int argc, char **argv, const struct cli_globals *g)
{
    (void)argc;
    (void)argv;
    (void)g;
    fprintf(stderr, "xcensus export: not implemented yet\n");
    return 1;
}
