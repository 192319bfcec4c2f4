"""Set 6: a CircleFarmer-compatible circle generator, its reader, COCO export and the `circles` task."""
