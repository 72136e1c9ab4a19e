"""Mail to officers: the words in English and Spanish (words), the messages (compose) and the
mail server (smtp). `services/notifications.py` decides who gets what and when."""
