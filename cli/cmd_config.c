/* Placeholder until the config command lands; replaced by its owner. */
#include "commands.h"

#include <stdio.h>

int cmd_config(int argc, char **argv, const struct cli_globals *g)
{
    fprintf(stderr, "xcensus: \"config\" is not built yet\n");
    return 1;
}
