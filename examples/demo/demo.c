/* Placeholder demo until the simulated gateway lands (issue: bench harness and demo). */
#include <stdio.h>

#include <gwlb.h>

int main(void)
{
    printf("libgwlb %s demo: components are being built.\n", gwlb_version_string());
    return 0;
}
