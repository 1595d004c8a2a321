/*
 * `xcensus serve`: placeholder until the command lands (being written now).
 */
#include <stdio.h>

#include "commands.h"

/* Not yet implemented: says so and fails. */
int cmd_serve(int argc, char **argv, const struct cli_globals *g)
{
    (void)argc;
    (void)argv;
    (void)g;
    fprintf(stderr, "xcensus serve: not implemented yet\n");
    return 1;
}
