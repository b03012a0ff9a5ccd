/* Placeholder: the hostile-HTTP tests are being written. */
#include "harness.h"

int
main(void)
{
	return harness_run("hostile", NULL, 0);
}
