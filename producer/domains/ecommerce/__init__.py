"""E-commerce: the customer panel (ecommerce.customers)."""
