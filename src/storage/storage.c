extern int carve_placeholder_storage;
