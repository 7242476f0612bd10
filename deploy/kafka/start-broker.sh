#!/bin/bash
# The compose `kafka` service's entrypoint (apache/kafka:3.9.x image): SASL_SSL with SCRAM users and ACLs.
#
# server.properties is written from the service's KAFKA_* environment (the image's own naming: KAFKA_FOO_BAR
# -> foo.bar, `__` -> `_`, `___` -> `-`), plus what must not sit in the environment, from compose secrets:
#   /run/secrets/kafka_admin          the super user's password (SCRAM for clients, PLAIN on the controller
#                                     listener: KRaft controllers take no SCRAM)
#   /run/secrets/kafka_keystore   the broker's key and certificate chain (PKCS12), signed by the site's CA
#   /run/secrets/kafka_truststore the CA (PKCS12), for the broker as a client of itself
#   /run/secrets/kafka_store_password the two stores' password
# At the first start the storage is formatted with the super user's SCRAM credential (KIP-900); the services'
# users and the ACLs come afterwards from the one-shot `kafka-security` job (connectors/data/kafka-acls.json).
set -euo pipefail

props=/tmp/server.properties
admin_pw=$(cat /run/secrets/kafka_admin)
store_pw=$(cat /run/secrets/kafka_store_password)
umask 077

{
  echo "# written by deploy/kafka/start-broker.sh"
  env | grep -E '^KAFKA_' | grep -vE '^KAFKA_(HEAP_OPTS|OPTS|JVM_PERFORMANCE_OPTS|LOG4J_OPTS|HOME|VERSION)=' | while IFS='=' read -r name value; do
    key=${name#KAFKA_}
    key=$(echo "$key" | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g' | tr '[:upper:]' '[:lower:]')
    echo "$key=$value"
  done
  echo "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$admin_pw\";"
  echo "listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"$admin_pw\" user_admin=\"$admin_pw\";"
  echo "ssl.keystore.type=PKCS12"
  echo "ssl.keystore.location=/run/secrets/kafka_keystore"
  echo "ssl.keystore.password=$store_pw"
  echo "ssl.key.password=$store_pw"
  echo "ssl.truststore.type=PKCS12"
  echo "ssl.truststore.location=/run/secrets/kafka_truststore"
  echo "ssl.truststore.password=$store_pw"
} > "$props"

# for the healthcheck and an operator's kafka-*.sh tools: the super user over SASL_SSL
cat > /tmp/admin.properties <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_pw";
ssl.truststore.type=PKCS12
ssl.truststore.location=/run/secrets/kafka_truststore
ssl.truststore.password=$store_pw
PROPS

/opt/kafka/bin/kafka-storage.sh format --ignore-formatted -t "$CLUSTER_ID" -c "$props" \
  --add-scram "SCRAM-SHA-512=[name=admin,password=$admin_pw]"
exec /opt/kafka/bin/kafka-server-start.sh "$props"
