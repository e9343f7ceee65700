"""datagen: a Kafka-native producer daemon that plays declarative scenario files."""

__version__ = "0.1.0"
