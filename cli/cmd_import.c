/* Placeholder until the import command lands; replaced by its owner. */
#include "commands.h"

#include <stdio.h>

int cmd_import(int argc, char **argv, const struct cli_globals *g)
{
    fprintf(stderr, "xcensus: \"import\" is not built yet\n");
    return 1;
}
