/* Version queries: lets a caller check that header and library agree. */
#include "gwlb/common.h"

int gwlb_version_number(void)
{
    return GWLB_VERSION_NUMBER;
}

const char *gwlb_version_string(void)
{
    return GWLB_VERSION_STRING;
}
