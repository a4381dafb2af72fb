"""Eye-emotion pipeline tests (a package, so basenames such as test_space.py may repeat elsewhere)."""
