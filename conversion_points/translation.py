from modeltranslation.translator import TranslationOptions, register

from .models import Area, ConversionPoint


@register(Area)
class AreaTranslationOptions(TranslationOptions):
    fields = ("name", "description")


@register(ConversionPoint)
class ConversionPointTranslationOptions(TranslationOptions):
    fields = ("name", "description", "recognition")
