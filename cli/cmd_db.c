/* Placeholder until the database commands land; replaced by their owner. */
#include "commands.h"

#include <stdio.h>

int cmd_migrate(int argc, char **argv, const struct cli_globals *g)
{
    fprintf(stderr, "xcensus: \"migrate\" is not built yet\n");
    return 1;
}

int cmd_query(int argc, char **argv, const struct cli_globals *g)
{
    fprintf(stderr, "xcensus: \"query\" is not built yet\n");
    return 1;
}
