"""Where read models keep their tables: stores per backend, generations, one-statement reads."""
