#!/bin/sh
set -eu
sqlplus -s backup/kelKD703iUyOr1@ORCL <<'SQL'
  ALTER DATABASE BEGIN BACKUP;
SQL
export PLANETSCALE_PW=pscale_pw_j0LEiRlwYjqzertEmtWSgz3FSDw0wO0sOZgjON-ytr2
export PLANETSCALE_SERVICE_TOKEN=pscale_tkn_FhhKtnELt5HlrMVh9GKeQtw3lgHUR-WUTPOsKhoiMJi
