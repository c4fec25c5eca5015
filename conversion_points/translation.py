from modeltranslation.translator import TranslationOptions, register

from .models import Area, Campaign, ConversionPoint


@register(Area)
class AreaTranslationOptions(TranslationOptions):
    fields = ("name", "description")


@register(ConversionPoint)
class ConversionPointTranslationOptions(TranslationOptions):
    fields = ("name", "description", "recognition")


@register(Campaign)
class CampaignTranslationOptions(TranslationOptions):
    fields = ("name", "description")
