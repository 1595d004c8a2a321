/* keeps a static library valid while its folder has no sources yet */
typedef int xc_empty_translation_unit;
