#!/bin/sh
# A RabbitMQ 3.10 node with the management plugin from the host's Debian binaries, like the
# official management image: the guest user (allowed from any address: the container is reached
# only through its mapped ports), AMQP on 5672, the management API on 15672.
set -e
mkdir -p /var/lib/rabbitmq/mnesia /var/lib/rabbitmq/log
cat > /etc/rabbitmq/rabbitmq.conf <<CONF
loopback_users = none
listeners.tcp.default = 5672
management.tcp.port = 15672
log.console = true
log.console.level = info
log.file = false
CONF
echo "[rabbitmq_management]." > /etc/rabbitmq/enabled_plugins
export HOME=/var/lib/rabbitmq PATH=/usr/lib/erlang/bin:/usr/bin
export RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_CONFIG_FILE=/etc/rabbitmq/rabbitmq.conf
export RABBITMQ_ENABLED_PLUGINS_FILE=/etc/rabbitmq/enabled_plugins RABBITMQ_LOGS=-
export RABBITMQ_MNESIA_BASE=/var/lib/rabbitmq/mnesia RABBITMQ_LOG_BASE=/var/lib/rabbitmq/log
for server in /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server; do :; done
exec "$server"
