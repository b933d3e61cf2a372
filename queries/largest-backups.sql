-- The ten largest objects the backup function copied, newest first among equals.
SELECT key, size, backed_up_at
FROM backups
ORDER BY size DESC, backed_up_at DESC
LIMIT 10
