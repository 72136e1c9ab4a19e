"""English (the source strings) and Spanish through Qt translations, switchable at run time.

Installing a translator makes Qt send every widget a LanguageChange event; each screen
re-reads its strings in `changeEvent`, so nothing needs a restart.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QTranslator

from kiosk.ui import resources

LANGUAGES = {"en": "English", "es": "Español"}


class LanguageSwitch:
    # Qt's translators belong to the application, not to a window: one for the whole process.
    _translator: QTranslator | None = None

    def __init__(self) -> None:
        self.language = "en"

    def set_language(self, language: str) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
        if LanguageSwitch._translator is not None:
            QCoreApplication.removeTranslator(LanguageSwitch._translator)
            LanguageSwitch._translator = None
        if language != "en":
            translator = QTranslator()
            path = resources.translation_file(language)
            if not translator.load(str(path)):
                raise FileNotFoundError(f"no translation at {path}")
            QCoreApplication.installTranslator(translator)
            LanguageSwitch._translator = translator
        # Removing a translator sends LanguageChange too, so screens re-read English. Qt posts
        # these events; deliver them now, so the very next frame is in the new language.
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LanguageChange)
        self.language = language

    def other(self) -> str:
        """The language the citizen's language button switches to."""
        return "es" if self.language == "en" else "en"
