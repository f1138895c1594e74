extern int carve_placeholder_dir;
