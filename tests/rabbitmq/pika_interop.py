"""A C++ service and a Python spakky service on one RabbitMQ, both ways (the test broker).

The Python side is pika, doing exactly what the spakky-rabbitmq plugin does:
- its transport, for each message: queue_declare(event_name, durable=True); with an exchange,
  exchange_declare(exchange) (pika's defaults: direct, not durable) and
  queue_bind(event_name, exchange, event_name); basic_publish(exchange or "", event_name,
  payload, BasicProperties(headers=headers)) - no type, no content_type;
- its consumer: queue_declare(event_name) (not durable), basic_consume on it, validate the JSON
  as the event's dataclass, then basic_ack.
The payloads are what pydantic writes for the dataclass; where pydantic 2 is importable they are
written and validated by pydantic itself (TypeAdapter), otherwise by the json module in the same
layout. The C++ side is python_peer (RabbitMqTopology::queue_per_event).

    python3 pika_interop.py <python_peer> <amqp url>
"""
import json
import re
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone

import pika

try:  # optional: pydantic 2 writes and validates the payloads when it is there
    from dataclasses import field

    from pydantic import TypeAdapter
    from pydantic.dataclasses import dataclass

    @dataclass(frozen=True)
    class AbstractIntegrationEvent:
        event_id: uuid.UUID = field(default_factory=uuid.uuid4)
        timestamp: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @dataclass(frozen=True, kw_only=True)
    class InteropOrderPlaced(AbstractIntegrationEvent):
        order_id: str
        amount: float
        quantity: int
        tags: list[str]

    @dataclass(frozen=True, kw_only=True)
    class InteropOrderShipped(AbstractIntegrationEvent):
        order_id: str
        weight: float

    PYDANTIC = True
except ImportError:
    PYDANTIC = False

EXCHANGE = "spakky.interop.events"
PLACED = "InteropOrderPlaced"
SHIPPED = "InteropOrderShipped"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def placed_payload(order_id, amount, quantity, tags):
    event_id = uuid.uuid4()
    if PYDANTIC:
        event = InteropOrderPlaced(event_id=event_id, order_id=order_id, amount=amount, quantity=quantity, tags=tags)
        return str(event_id), TypeAdapter(InteropOrderPlaced).dump_json(event)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = {"event_id": str(event_id), "timestamp": stamp, "order_id": order_id, "amount": amount,
            "quantity": quantity, "tags": tags}
    return str(event_id), json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def plugin_send(url, event_name, payload, headers, exchange=None):
    """RabbitMQEventTransport.send of spakky-rabbitmq, line for line."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.queue_declare(event_name, durable=True)
    if exchange is not None:
        channel.exchange_declare(exchange)
        channel.queue_bind(event_name, exchange, event_name)
    channel.basic_publish(exchange if exchange is not None else "", event_name, payload,
                          properties=pika.BasicProperties(headers=headers))
    channel.close()
    connection.close()


def plugin_receive(url, event_name, count, start_sender):
    """RabbitMQEventConsumer of spakky-rabbitmq: declare (not durable), consume, validate, ack."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.queue_declare(event_name)
    received = []

    def on_message(ch, method, properties, body):
        if PYDANTIC:
            TypeAdapter(InteropOrderShipped).validate_json(body)  # raises if it does not fit
        received.append((method, properties, body))
        ch.basic_ack(method.delivery_tag)

    channel.basic_consume(event_name, on_message)
    sender = start_sender()
    deadline = time.monotonic() + 30
    while len(received) < count and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.1)
    sender_out = sender.communicate(timeout=60)[0]
    channel.close()
    connection.close()
    return received, sender.returncode, sender_out


def run_peer(peer, *arguments):
    result = subprocess.run([peer, *arguments], capture_output=True, text=True, timeout=90)
    return result.returncode, result.stdout + result.stderr


def clean(url):
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    for queue in (PLACED, SHIPPED, PLACED + ".dead-letter", SHIPPED + ".dead-letter"):
        channel.queue_delete(queue)
    channel.exchange_delete(EXCHANGE)
    connection.close()


def python_to_cpp(peer, url, exchange, mode):
    label = f"Python -> C++ ({mode}, {'exchange ' + exchange if exchange else 'default exchange'})"
    sent = [("p-1", 0.1, 2, ["gift", "\u00e9t\u00e9"]), ("p-2", 1e-9, 1, [])]
    ids = []
    for order_id, amount, quantity, tags in sent:
        event_id, payload = placed_payload(order_id, amount, quantity, tags)
        ids.append(event_id)
        plugin_send(url, PLACED, payload, {"traceparent": TRACEPARENT}, exchange)
    code, out = run_peer(peer, url, exchange or "-", mode, str(len(sent)))
    print(out, end="")
    check(code == 0, f"{label}: the C++ consumer handled and acked both")
    for (order_id, amount, quantity, tags), event_id in zip(sent, ids):
        line = next((l for l in out.splitlines() if l.startswith(f"received {PLACED} {order_id} ")), "")
        fields = dict(part.split("=", 1) for part in line.split()[3:]) if line else {}
        check(bool(line), f"{label}: {order_id} arrived")
        check(fields.get("amount") and float(fields["amount"]) == amount, f"{label}: {order_id} amount {amount!r}")
        check(fields.get("quantity") == str(quantity), f"{label}: {order_id} quantity")
        check(fields.get("tags") == ",".join(tags), f"{label}: {order_id} tags")
        check(fields.get("event_id") == event_id, f"{label}: {order_id} keeps its event_id")
        check(fields.get("traceparent") == TRACEPARENT, f"{label}: {order_id} header")


def cpp_to_python(peer, url, exchange):
    label = f"C++ -> Python ({'exchange ' + exchange if exchange else 'default exchange'})"
    received, code, out = plugin_receive(
        url, SHIPPED, 2,
        lambda: subprocess.Popen([peer, url, exchange or "-", "send", "s-1", "s-2"], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True))
    print(out, end="")
    check(code == 0, f"{label}: the C++ transport sent both")
    check(len(received) == 2, f"{label}: the plugin's consumer received both")
    for (method, properties, body), order_id in zip(received, ("s-1", "s-2")):
        data = json.loads(body)
        check(data.get("order_id") == order_id, f"{label}: {order_id} arrived in order")
        check(list(data)[:2] == ["event_id", "timestamp"] and str(uuid.UUID(data["event_id"])) == data["event_id"],
              f"{label}: {order_id} has event_id and timestamp first")
        check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z", data["timestamp"]) is not None,
              f"{label}: {order_id} timestamp as pydantic writes it")
        check((properties.headers or {}).get("traceparent") == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
              f"{label}: {order_id} header")
        check(method.routing_key == SHIPPED and method.exchange == (exchange or ""),
              f"{label}: {order_id} routed by its event name")


def main():
    peer, url = sys.argv[1], sys.argv[2]
    print(f"pydantic {'2 validates' if PYDANTIC else 'not importable: json module'} the payloads", flush=True)
    clean(url)
    try:
        python_to_cpp(peer, url, None, "receive")
        python_to_cpp(peer, url, EXCHANGE, "receive-async")
        code, out = run_peer(peer, url, EXCHANGE, "send-default-topology")
        print(out, end="")
        check(code == 0 and 'exchange_type = "direct"' in out,
              "C++ default topology on the Python exchange: a TransportError says what to set")
        cpp_to_python(peer, url, None)
        cpp_to_python(peer, url, EXCHANGE)
    finally:
        clean(url)
    if failures:
        print(f"{len(failures)} check(s) failed", flush=True)
        return 1
    print("all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
