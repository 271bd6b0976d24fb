/*
 * The smallest libgwlb consumer: built by the install test exactly as a user
 * would build it, with `cc minimal.c $(pkg-config --cflags --libs libgwlb)`.
 */
#include <stdio.h>

#include <gwlb.h>

int main(void)
{
    if (gwlb_version_number() != GWLB_VERSION_NUMBER) {
        fprintf(stderr, "header %d and library %d disagree\n", GWLB_VERSION_NUMBER,
                gwlb_version_number());
        return 1;
    }
    printf("libgwlb %s: crc32(\"123456789\") = %08x, %s\n", gwlb_version_string(),
           (unsigned)gwlb_crc32("123456789", 9), gwlb_strerror(GWLB_ENOHOST));
    return 0;
}
