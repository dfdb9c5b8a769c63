"""Data: dataset readers (folder, CSV, IDX), image decoding, identity-disjoint splits, preprocessing."""
