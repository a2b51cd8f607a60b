/*
 * Runs every suite of server/'s pure modules; CK_FORK=no and
 * CK_RUN_SUITE/CK_RUN_CASE narrow a run down for a debugger.
 */
#include <stdlib.h>

#include "tests/unit/server/test_server.h"

int
main(void)
{
	SRunner *sr;
	int      failed;

	sr = srunner_create(config_suite());
	srunner_add_suite(sr, log_suite());
	srunner_add_suite(sr, topic_suite());
	srunner_add_suite(sr, headers_suite());
	srunner_add_suite(sr, hmap_suite());
	srunner_add_suite(sr, transport_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
