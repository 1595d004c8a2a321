/* Placeholder until the caps command lands; replaced by its owner. */
#include "commands.h"

#include <stdio.h>

int cmd_caps(int argc, char **argv, const struct cli_globals *g)
{
    fprintf(stderr, "xcensus: \"caps\" is not built yet\n");
    return 1;
}
