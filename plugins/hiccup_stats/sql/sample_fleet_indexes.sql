-- The secondary indexes, unique constraints and foreign keys of the report
-- tables, each as the statement that drops it and the one that restores it
-- as it was, in restore order. The sample fleet is loaded without them and
-- they are built once on the full tables, far faster than row by row.
SELECT drop_statement, restore_statement
FROM (
    SELECT
        1 AS restore_order,
        format('DROP INDEX %%s', index.indexrelid::regclass) AS drop_statement,
        pg_get_indexdef(index.indexrelid) AS restore_statement
    FROM pg_index AS index
    WHERE index.indrelid = ANY(%(report_tables)s::regclass[])
      AND NOT EXISTS (
          SELECT FROM pg_constraint AS constraint_
          WHERE constraint_.conindid = index.indexrelid
            AND constraint_.conrelid = index.indrelid
      )
    UNION ALL
    SELECT
        CASE constraint_.contype WHEN 'u' THEN 2 ELSE 3 END,
        format(
            'ALTER TABLE %%s DROP CONSTRAINT %%I',
            constraint_.conrelid::regclass, constraint_.conname
        ),
        format(
            'ALTER TABLE %%s ADD CONSTRAINT %%I %%s',
            constraint_.conrelid::regclass, constraint_.conname,
            pg_get_constraintdef(constraint_.oid)
        )
    FROM pg_constraint AS constraint_
    WHERE constraint_.conrelid = ANY(%(report_tables)s::regclass[])
      AND constraint_.contype IN ('u', 'f')
) AS rebuilt
ORDER BY restore_order, restore_statement
