/*
 * Runs the mgmt/ unit suites; CK_FORK=no and CK_RUN_SUITE/CK_RUN_CASE
 * narrow a run down for a debugger.
 */
#include <stdlib.h>

#include "tests/unit/mgmt/test_mgmt.h"

int
main(void)
{
	SRunner *sr;
	int      failed;

	sr = srunner_create(query_suite());
	srunner_add_suite(sr, http_suite());
	srunner_add_suite(sr, auth_suite());
	srunner_add_suite(sr, www_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
