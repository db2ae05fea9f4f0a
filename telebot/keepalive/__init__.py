"""Keep alive (♻️): a kept task that ends badly is started again through ikabot's menu with
its recorded answers (`chain`: what to do and when; `keeper`: doing it, safely)."""
