/*
 * Runs every storage/ suite; CK_FORK=no and CK_RUN_SUITE/CK_RUN_CASE narrow
 * a run down for a debugger.  TEST_STORAGE_LOG=1 echoes the store's log.
 */
#include <stdlib.h>

#include "tests/unit/storage/test_storage.h"

int
main(void)
{
	SRunner *sr;
	int      failed;

	sr = srunner_create(crc32c_suite());
	srunner_add_suite(sr, store_suite());
	srunner_add_suite(sr, fault_suite());
	srunner_add_suite(sr, meta_suite());
	srunner_add_suite(sr, stream_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
