//! Reply drafting: short, warm, specific replies from what the agent knows. Never
//! placeholders, internal routing talk or tool names; pending actions are never described
//! as done.

use support_sdk::types::Subscription;

use super::classify::Intent;
use super::inbound::{CustomerFacts, Inbound, PurchaseFact};
use super::kb::KbHit;
use super::profile::AppProfile;
use super::router::{RouteAction, RouteDecision};
use super::template;
use super::text::{self, CueText};

/// What the agent did, which decides what the reply says.
#[derive(Debug, Clone, PartialEq)]
pub enum Situation {
    /// A short holding reply for an escalation.
    Holding,
    /// A matched canned response.
    Canned,
    /// An answer from knowledge, or a question back.
    Answer,
    LinkSent,
    NoPurchaseFound,
    NoAccountFound,
    Refunded(PurchaseFact),
    RefundPending(PurchaseFact),
    OwnerMustConfirm,
    NeedTransferTarget(PurchaseFact),
    Transferred(PurchaseFact, Vec<String>),
    TransferPending(PurchaseFact, Vec<String>),
    NameUpdated(String),
    NeedNewName,
    EmailUpdated(String),
    EmailPending(String),
    NeedNewEmail,
}

/// Everything a reply may draw on.
#[derive(Debug, Clone, Copy)]
pub struct ReplyFacts<'a> {
    pub inbound: &'a Inbound,
    pub route: &'a RouteDecision,
    pub profile: &'a AppProfile,
    pub facts: &'a CustomerFacts,
    pub subscriptions: &'a [Subscription],
    pub knowledge: &'a [KbHit],
    /// The final action (the agent may have handed over).
    pub action: RouteAction,
}

/// The language of the full offline templates (canned responses too are written in it).
pub const ANSWER_LANGUAGE: &str = "en";

/// Whether the offline templates can answer (not only hold) in `language`, for a reply built
/// on a canned response or not: English always; the languages of [`ANSWERS`] except for
/// canned responses (their bodies are English). Anything else is handed over (a teammate
/// answers in the customer's language) rather than answered in English.
pub fn can_answer_in(language: &str, canned: bool) -> bool {
    language == ANSWER_LANGUAGE || (!canned && answers_in(language).is_some())
}

/// The languages the offline agent answers in (English first).
pub fn answer_languages() -> impl Iterator<Item = &'static str> {
    std::iter::once(ANSWER_LANGUAGE).chain(ANSWERS.iter().map(|a| a.language))
}

fn answers_in(language: &str) -> Option<&'static Answers> {
    ANSWERS.iter().find(|a| a.language == language)
}

/// The short holding reply of an escalation, in one language.
struct Holding {
    language: &'static str,
    /// `{name}` is replaced.
    greeting: &'static str,
    greeting_anonymous: &'static str,
    urgent: &'static str,
    /// `{who}` is replaced by the instructor's name.
    instructor: &'static str,
    angry: &'static str,
    thanks: &'static str,
    team: &'static str,
    closing: &'static str,
}

/// Holding replies by language; the first (English) is the fallback for any other language.
const HOLDING: &[Holding] = &[
    Holding {
        language: "en",
        greeting: "Hi {name},",
        greeting_anonymous: "Hi there,",
        urgent: "Thank you for your message. We have received it, and a member of our team will \
                 reply to you personally as soon as possible.",
        instructor: "Thank you so much for writing! I'll make sure {who} sees your message.",
        angry: "I'm sorry for the frustration this has caused, and thank you for telling us plainly.",
        thanks: "Thanks for getting in touch.",
        team: "A member of our team is looking into this personally and will get back to you \
               shortly.",
        closing: "Best,",
    },
    Holding {
        language: "de",
        greeting: "Hallo {name},",
        greeting_anonymous: "Guten Tag,",
        urgent: "vielen Dank für Ihre Nachricht. Wir haben sie erhalten; jemand aus unserem Team \
                 antwortet Ihnen so bald wie möglich persönlich.",
        instructor: "vielen Dank für deine Nachricht! Ich sorge dafür, dass {who} sie liest.",
        angry: "es tut mir leid, dass Sie sich ärgern mussten, und danke, dass Sie es uns offen sagen.",
        thanks: "vielen Dank für Ihre Nachricht.",
        team: "Jemand aus unserem Team kümmert sich persönlich darum und meldet sich in Kürze bei \
               Ihnen.",
        closing: "Viele Grüße",
    },
    Holding {
        language: "fr",
        greeting: "Bonjour {name},",
        greeting_anonymous: "Bonjour,",
        urgent: "Merci pour votre message. Nous l'avons bien reçu, et un membre de notre équipe \
                 vous répondra personnellement dans les meilleurs délais.",
        instructor: "Merci beaucoup pour votre message ! Je veille à ce que {who} le lise.",
        angry: "Je suis désolé pour la gêne occasionnée, et merci de nous l'avoir dit franchement.",
        thanks: "Merci pour votre message.",
        team: "Un membre de notre équipe s'en occupe personnellement et reviendra vers vous \
               très bientôt.",
        closing: "Cordialement,",
    },
    Holding {
        language: "es",
        greeting: "Hola, {name}:",
        greeting_anonymous: "Hola:",
        urgent: "Gracias por su mensaje. Lo hemos recibido y una persona de nuestro equipo le \
                 responderá personalmente lo antes posible.",
        instructor: "¡Muchas gracias por escribir! Me aseguraré de que {who} lea tu mensaje.",
        angry: "Lamento mucho las molestias, y gracias por decírnoslo con claridad.",
        thanks: "Gracias por escribirnos.",
        team: "Una persona de nuestro equipo se está ocupando de esto personalmente y le \
               responderá en breve.",
        closing: "Un saludo,",
    },
    Holding {
        language: "it",
        greeting: "Ciao {name},",
        greeting_anonymous: "Buongiorno,",
        urgent: "Grazie per il suo messaggio. L'abbiamo ricevuto e una persona del nostro team le \
                 risponderà personalmente il prima possibile.",
        instructor: "Grazie mille per averci scritto! Mi assicurerò che {who} legga il tuo messaggio.",
        angry: "Mi dispiace per il disagio, e grazie per avercelo detto chiaramente.",
        thanks: "Grazie per averci scritto.",
        team: "Una persona del nostro team se ne sta occupando personalmente e le risponderà a \
               breve.",
        closing: "Cordiali saluti,",
    },
    Holding {
        language: "pt",
        greeting: "Olá, {name},",
        greeting_anonymous: "Olá,",
        urgent: "Obrigado pela sua mensagem. Recebemo-la e uma pessoa da nossa equipa vai \
                 responder-lhe pessoalmente o mais depressa possível.",
        instructor: "Muito obrigado por escrever! Vou garantir que {who} leia a sua mensagem.",
        angry: "Lamentamos o incómodo, e obrigado por nos dizer com franqueza.",
        thanks: "Obrigado pelo contacto.",
        team: "Uma pessoa da nossa equipa está a tratar disto pessoalmente e responderá em breve.",
        closing: "Com os melhores cumprimentos,",
    },
    Holding {
        language: "nl",
        greeting: "Hallo {name},",
        greeting_anonymous: "Goedendag,",
        urgent: "Dank u voor uw bericht. We hebben het ontvangen en iemand van ons team antwoordt \
                 u zo snel mogelijk persoonlijk.",
        instructor: "Hartelijk dank voor je bericht! Ik zorg ervoor dat {who} het leest.",
        angry: "Het spijt me voor de ergernis, en dank u dat u het ons eerlijk zegt.",
        thanks: "Dank u voor uw bericht.",
        team: "Iemand van ons team pakt dit persoonlijk op en neemt binnenkort contact met u op.",
        closing: "Met vriendelijke groet,",
    },
];

/// The holding reply in `language`, English when there is none.
fn holding_in(language: &str) -> &'static Holding {
    HOLDING
        .iter()
        .find(|h| h.language == language)
        .unwrap_or(&HOLDING[0])
}

/// The languages holding replies are written in.
pub fn holding_languages() -> impl Iterator<Item = &'static str> {
    HOLDING.iter().map(|h| h.language)
}

/// The replies of the offline agent in a language other than English: one template per
/// [`Situation`], simpler than the English ones (`{email}`, `{product}`, `{to}`, `{name}`
/// are replaced). Knowledge passages are quoted as written (in English), introduced by
/// `docs`.
struct Answers {
    language: &'static str,
    link_sent: &'static str,
    no_purchase: &'static str,
    no_account: &'static str,
    refunded: &'static str,
    refund_pending: &'static str,
    owner_must_confirm: &'static str,
    need_transfer_target: &'static str,
    transferred: &'static str,
    transfer_pending: &'static str,
    name_updated: &'static str,
    need_new_name: &'static str,
    email_updated: &'static str,
    email_pending: &'static str,
    need_new_email: &'static str,
    docs: &'static str,
    ask_more: &'static str,
    wrong_business: &'static str,
    kind_words: &'static str,
    feedback: &'static str,
    follow_up: &'static str,
}

const ANSWERS: &[Answers] = &[
    Answers {
        language: "de",
        link_sent: "ich habe Ihnen gerade einen neuen Login-Link an {email} geschickt. Er sollte \
                    in wenigen Minuten ankommen; falls nicht, schauen Sie bitte auch im Spam-Ordner nach.",
        no_purchase: "unter {email} konnte ich keinen Kauf finden. Vielleicht wurde er mit einer \
                      anderen E-Mail-Adresse getätigt: Könnten Sie mir die Adresse vom Kauf oder die \
                      Bestellnummer aus Ihrer Quittung schicken?",
        no_account: "unter {email} konnte ich kein Konto finden. Mit welcher E-Mail-Adresse melden \
                     Sie sich an?",
        refunded: "ich habe Ihren Kauf von {product} vollständig auf Ihre ursprüngliche \
                   Zahlungsmethode erstattet. Je nach Bank kann es ein paar Werktage dauern, bis \
                   der Betrag sichtbar ist.",
        refund_pending: "Ihr Kauf von {product} liegt außerhalb des Zeitraums für sofortige \
                         Erstattungen, daher habe ich das Team gebeten, Ihre Anfrage zu prüfen. Sie \
                         hören von uns per E-Mail, sobald sie geprüft ist.",
        owner_must_confirm: "aus Sicherheitsgründen können wir einen Kauf nur auf Wunsch der \
                             Person übertragen, die ihn getätigt hat. Könnten Sie sie bitten, uns \
                             von der Kaufadresse aus zu schreiben und zu bestätigen, dass er auf \
                             {email} übertragen werden soll?",
        need_transfer_target: "gern übertrage ich Ihren Kauf von {product}. An welche \
                               E-Mail-Adresse soll er gehen?",
        transferred: "erledigt: Ich habe Ihren Kauf von {product} auf {to} übertragen. Ab jetzt \
                      kann man sich mit einem Login-Link an diese Adresse anmelden.",
        transfer_pending: "danke für die Angaben. Ich habe das Team gebeten, die Übertragung von \
                           {product} auf {to} freizugeben. Wir bestätigen per E-Mail, sobald sie \
                           abgeschlossen ist.",
        name_updated: "ich habe den Namen in Ihrem Konto auf {name} geändert.",
        need_new_name: "gern korrigiere ich den Namen in Ihrem Konto. Wie genau soll er lauten?",
        email_updated: "ich habe die Login-E-Mail Ihres Kontos auf {email} geändert.",
        email_pending: "ich habe das Team gebeten, die Änderung Ihrer Login-E-Mail auf {email} \
                        freizugeben. Ihre Käufe und Ihr Fortschritt bleiben in Ihrem Konto.",
        need_new_email: "gern ändere ich die E-Mail-Adresse Ihres Kontos. Welche Adresse möchten \
                         Sie verwenden?",
        docs: "danke für Ihre Frage. Das sagt unsere Dokumentation (auf Englisch) dazu:",
        ask_more: "danke für Ihre Nachricht! Den Support für {product} erledigen wir per E-Mail, \
                   Sie sind also richtig. Könnten Sie mir etwas genauer beschreiben, worum es geht?",
        wrong_business: "ich glaube, diese Nachricht hat uns aus Versehen erreicht: Wir sind \
                         {product}, ein Online-Kurs, und haben keine Unterlagen zu dieser \
                         Bestellung. Das Unternehmen, bei dem Sie bestellt haben, hilft Ihnen \
                         direkt weiter.",
        kind_words: "vielen Dank für Ihre freundlichen Worte, das freut uns sehr!",
        feedback: "danke, dass Sie sich die Zeit dafür genommen haben. Solche Rückmeldungen helfen \
                   uns, {product} zu verbessern; ich habe sie an das Team weitergegeben.",
        follow_up: "Wenn noch etwas nicht klappt, antworten Sie einfach auf diese E-Mail.",
    },
    Answers {
        language: "fr",
        link_sent: "Je viens de vous envoyer un nouveau lien de connexion à {email}. Il devrait \
                    arriver d'ici quelques minutes ; sinon, pensez à vérifier vos courriers \
                    indésirables.",
        no_purchase: "Je n'ai trouvé aucun achat associé à {email}. Il a peut-être été fait avec \
                      une autre adresse : pourriez-vous me donner l'adresse utilisée lors de \
                      l'achat, ou le numéro de commande figurant sur votre reçu ?",
        no_account: "Je n'ai trouvé aucun compte associé à {email}. Avec quelle adresse vous \
                     connectez-vous ?",
        refunded: "J'ai remboursé intégralement votre achat de {product} sur votre moyen de \
                   paiement d'origine. Selon votre banque, cela peut prendre quelques jours \
                   ouvrés avant d'apparaître sur votre relevé.",
        refund_pending: "Votre achat de {product} dépasse le délai des remboursements immédiats ; \
                         j'ai donc demandé à l'équipe d'examiner votre demande. Vous recevrez \
                         notre réponse par e-mail dès qu'elle aura été examinée.",
        owner_must_confirm: "Pour des raisons de sécurité, nous ne pouvons transférer un achat \
                             qu'à la demande de la personne qui l'a effectué. Pourriez-vous lui \
                             demander de nous écrire depuis l'adresse utilisée lors de l'achat \
                             pour confirmer le transfert vers {email} ?",
        need_transfer_target: "Avec plaisir pour le transfert de votre achat de {product}. À \
                               quelle adresse e-mail doit-il être transféré ?",
        transferred: "C'est fait : j'ai transféré votre achat de {product} vers {to}. Il suffit \
                      désormais de demander un lien de connexion à cette adresse.",
        transfer_pending: "Merci pour ces précisions. J'ai demandé à l'équipe d'approuver le \
                           transfert de {product} vers {to}. Nous vous confirmerons par e-mail \
                           dès que ce sera fait.",
        name_updated: "J'ai mis à jour le nom de votre compte : {name}.",
        need_new_name: "Avec plaisir pour corriger le nom de votre compte. Comment doit-il \
                        s'écrire exactement ?",
        email_updated: "J'ai remplacé l'adresse de connexion de votre compte par {email}.",
        email_pending: "J'ai demandé à l'équipe d'approuver le changement de l'adresse de \
                        connexion de votre compte pour {email}. Vos achats et votre progression \
                        restent sur votre compte.",
        need_new_email: "Avec plaisir pour changer l'adresse de votre compte. Quelle adresse \
                         souhaitez-vous utiliser ?",
        docs: "Merci pour votre question. Voici ce qu'en dit notre documentation (en anglais) :",
        ask_more: "Merci pour votre message ! Le support de {product} se fait par e-mail, vous \
                   êtes donc au bon endroit. Pourriez-vous me préciser ce dont vous avez besoin ?",
        wrong_business: "Je pense que ce message nous est parvenu par erreur : nous sommes \
                         {product}, une formation en ligne, et nous n'avons aucune trace de \
                         cette commande. L'entreprise auprès de laquelle vous avez commandé \
                         pourra vous aider directement.",
        kind_words: "Merci beaucoup pour vos mots aimables, cela nous fait très plaisir !",
        feedback: "Merci d'avoir pris le temps de nous écrire. Ces retours nous aident à \
                   améliorer {product} ; je les ai transmis à l'équipe.",
        follow_up: "Si quelque chose ne fonctionne toujours pas, répondez simplement à ce message.",
    },
    Answers {
        language: "es",
        link_sent: "Le acabo de enviar un nuevo enlace de acceso a {email}. Debería llegar en \
                    unos minutos; si no lo ve, revise también la carpeta de spam.",
        no_purchase: "No he encontrado ninguna compra con {email}. Puede que se hiciera con otra \
                      dirección: ¿podría indicarme la dirección que usó al comprar o el número de \
                      pedido de su recibo?",
        no_account: "No he encontrado ninguna cuenta con {email}. ¿Con qué dirección inicia \
                     sesión?",
        refunded: "He reembolsado por completo su compra de {product} a su método de pago \
                   original. Según su banco, puede tardar unos días hábiles en aparecer en su \
                   extracto.",
        refund_pending: "Su compra de {product} está fuera del plazo de reembolso inmediato, así \
                         que he pedido al equipo que revise su solicitud. Le responderemos por \
                         correo en cuanto la hayan revisado.",
        owner_must_confirm: "Por seguridad, solo podemos transferir una compra cuando lo pide la \
                             persona que la hizo. ¿Podría pedirle que nos escriba desde la \
                             dirección con la que compró, confirmando que quiere transferirla a \
                             {email}?",
        need_transfer_target: "Con gusto transfiero su compra de {product}. ¿A qué dirección de \
                               correo debe ir?",
        transferred: "Hecho: he transferido su compra de {product} a {to}. A partir de ahora se \
                      puede entrar con un enlace de acceso enviado a esa dirección.",
        transfer_pending: "Gracias por los datos. He pedido al equipo que apruebe la \
                           transferencia de {product} a {to}. Le confirmaremos por correo en \
                           cuanto esté hecha.",
        name_updated: "He actualizado el nombre de su cuenta a {name}.",
        need_new_name: "Con gusto corrijo el nombre de su cuenta. ¿Cómo debe escribirse \
                        exactamente?",
        email_updated: "He cambiado el correo de acceso de su cuenta a {email}.",
        email_pending: "He pedido al equipo que apruebe el cambio del correo de acceso de su \
                        cuenta a {email}. Sus compras y su progreso se mantienen en su cuenta.",
        need_new_email: "Con gusto cambio el correo de su cuenta. ¿Qué dirección quiere usar?",
        docs: "Gracias por su pregunta. Esto es lo que dice nuestra documentación (en inglés):",
        ask_more: "¡Gracias por escribirnos! Atendemos el soporte de {product} por correo, así \
                   que está en el lugar correcto. ¿Podría contarme un poco más sobre lo que \
                   necesita?",
        wrong_business: "Creo que este mensaje nos ha llegado por error: somos {product}, un \
                         curso en línea, y no tenemos ningún registro de ese pedido. La empresa \
                         donde hizo el pedido podrá ayudarle directamente.",
        kind_words: "¡Muchas gracias por sus amables palabras, significan mucho para nosotros!",
        feedback: "Gracias por tomarse el tiempo de escribirnos. Comentarios así nos ayudan a \
                   mejorar {product}; se los he pasado al equipo.",
        follow_up: "Si algo sigue sin funcionar, responda a este correo.",
    },
    Answers {
        language: "it",
        link_sent: "Le ho appena inviato un nuovo link di accesso a {email}. Dovrebbe arrivare \
                    entro pochi minuti; se non lo vede, controlli anche la cartella spam.",
        no_purchase: "Non ho trovato acquisti associati a {email}. Forse è stato fatto con un \
                      altro indirizzo: potrebbe indicarmi l'indirizzo usato per l'acquisto o il \
                      numero d'ordine della ricevuta?",
        no_account: "Non ho trovato un account associato a {email}. Con quale indirizzo accede?",
        refunded: "Ho rimborsato per intero il suo acquisto di {product} sul metodo di pagamento \
                   originale. A seconda della banca, possono servire alcuni giorni lavorativi \
                   perché compaia nell'estratto conto.",
        refund_pending: "Il suo acquisto di {product} è fuori dal periodo dei rimborsi immediati, \
                         quindi ho chiesto al team di esaminare la sua richiesta. Le scriveremo \
                         appena sarà stata esaminata.",
        owner_must_confirm: "Per sicurezza possiamo trasferire un acquisto solo su richiesta di \
                             chi lo ha effettuato. Potrebbe chiedere a questa persona di \
                             scriverci dall'indirizzo usato per l'acquisto, confermando il \
                             trasferimento a {email}?",
        need_transfer_target: "Trasferisco volentieri il suo acquisto di {product}. A quale \
                               indirizzo email deve andare?",
        transferred: "Fatto: ho trasferito il suo acquisto di {product} a {to}. Da ora si può \
                      accedere con un link di accesso inviato a quell'indirizzo.",
        transfer_pending: "Grazie per i dettagli. Ho chiesto al team di approvare il \
                           trasferimento di {product} a {to}. Le confermeremo via email appena \
                           sarà fatto.",
        name_updated: "Ho aggiornato il nome del suo account in {name}.",
        need_new_name: "Correggo volentieri il nome del suo account. Come deve essere scritto \
                        esattamente?",
        email_updated: "Ho cambiato l'email di accesso del suo account in {email}.",
        email_pending: "Ho chiesto al team di approvare il cambio dell'email di accesso del suo \
                        account in {email}. Acquisti e progressi restano nel suo account.",
        need_new_email: "Cambio volentieri l'email del suo account. Quale indirizzo desidera \
                         usare?",
        docs: "Grazie per la domanda. Ecco cosa dice la nostra documentazione (in inglese):",
        ask_more: "Grazie per averci scritto! L'assistenza per {product} avviene via email, \
                   quindi è nel posto giusto. Potrebbe dirmi qualcosa in più su ciò che le serve?",
        wrong_business: "Credo che questo messaggio ci sia arrivato per errore: siamo {product}, \
                         un corso online, e non abbiamo traccia di questo ordine. L'azienda \
                         presso cui ha ordinato potrà aiutarla direttamente.",
        kind_words: "Grazie mille per le belle parole, significano molto per noi!",
        feedback: "Grazie per il tempo che ci ha dedicato. Commenti come questo ci aiutano a \
                   migliorare {product}; li ho girati al team.",
        follow_up: "Se qualcosa ancora non funziona, risponda pure a questa email.",
    },
    Answers {
        language: "pt",
        link_sent: "Acabei de enviar um novo link de acesso para {email}. Deve chegar em poucos \
                    minutos; se não o vir, verifique também a pasta de spam.",
        no_purchase: "Não encontrei nenhuma compra associada a {email}. Talvez tenha sido feita \
                      com outro endereço: pode indicar o endereço usado na compra ou o número do \
                      pedido que está no recibo?",
        no_account: "Não encontrei nenhuma conta associada a {email}. Com que endereço faz login?",
        refunded: "Reembolsei integralmente a sua compra de {product} no método de pagamento \
                   original. Dependendo do banco, pode levar alguns dias úteis a aparecer no \
                   extrato.",
        refund_pending: "A sua compra de {product} está fora do prazo de reembolso imediato, por \
                         isso pedi à equipa que analise o seu pedido. Responderemos por email \
                         assim que for analisado.",
        owner_must_confirm: "Por segurança, só podemos transferir uma compra a pedido de quem a \
                             fez. Pode pedir a essa pessoa que nos escreva a partir do endereço \
                             usado na compra, confirmando a transferência para {email}?",
        need_transfer_target: "Transfiro com todo o gosto a sua compra de {product}. Para que \
                               endereço de email deve ir?",
        transferred: "Feito: transferi a sua compra de {product} para {to}. A partir de agora o \
                      acesso é feito com um link enviado para esse endereço.",
        transfer_pending: "Obrigado pelos detalhes. Pedi à equipa que aprove a transferência de \
                           {product} para {to}. Confirmaremos por email assim que estiver feita.",
        name_updated: "Atualizei o nome da sua conta para {name}.",
        need_new_name: "Corrijo com todo o gosto o nome da sua conta. Como deve ficar \
                        exatamente?",
        email_updated: "Alterei o email de acesso da sua conta para {email}.",
        email_pending: "Pedi à equipa que aprove a alteração do email de acesso da sua conta \
                        para {email}. As suas compras e o seu progresso ficam na sua conta.",
        need_new_email: "Altero com todo o gosto o email da sua conta. Que endereço quer usar?",
        docs: "Obrigado pela sua pergunta. Eis o que diz a nossa documentação (em inglês):",
        ask_more: "Obrigado pelo contacto! O suporte de {product} é feito por email, por isso \
                   está no sítio certo. Pode dizer-me um pouco mais sobre o que precisa?",
        wrong_business: "Parece-me que esta mensagem nos chegou por engano: somos {product}, um \
                         curso online, e não temos registo desta encomenda. A empresa onde fez \
                         a encomenda poderá ajudar diretamente.",
        kind_words: "Muito obrigado pelas palavras simpáticas, significam muito para nós!",
        feedback: "Obrigado por ter tirado tempo para nos escrever. Comentários assim ajudam-nos \
                   a melhorar {product}; passei-os à equipa.",
        follow_up: "Se algo continuar a não funcionar, basta responder a este email.",
    },
    Answers {
        language: "nl",
        link_sent: "Ik heb zojuist een nieuwe inloglink naar {email} gestuurd. Die zou binnen \
                    een paar minuten moeten aankomen; kijk anders ook even in uw spammap.",
        no_purchase: "Ik kon geen aankoop vinden op {email}. Misschien is die met een ander \
                      adres gedaan: kunt u mij het adres van de aankoop of het bestelnummer op uw \
                      bon sturen?",
        no_account: "Ik kon geen account vinden op {email}. Met welk e-mailadres logt u in?",
        refunded: "Ik heb uw aankoop van {product} volledig terugbetaald op uw oorspronkelijke \
                   betaalmethode. Afhankelijk van uw bank kan het een paar werkdagen duren \
                   voordat het zichtbaar is.",
        refund_pending: "Uw aankoop van {product} valt buiten de termijn voor directe \
                         terugbetaling, dus ik heb het team gevraagd uw verzoek te beoordelen. U \
                         hoort per e-mail van ons zodra dat gebeurd is.",
        owner_must_confirm: "Om veiligheidsredenen kunnen we een aankoop alleen overzetten op \
                             verzoek van degene die hem deed. Kunt u die persoon vragen ons te \
                             mailen vanaf het aankoopadres, met de bevestiging dat hij naar \
                             {email} mag?",
        need_transfer_target: "Ik zet uw aankoop van {product} graag over. Naar welk \
                               e-mailadres moet hij?",
        transferred: "Klaar: ik heb uw aankoop van {product} overgezet naar {to}. Inloggen gaat \
                      voortaan met een inloglink naar dat adres.",
        transfer_pending: "Bedankt voor de gegevens. Ik heb het team gevraagd het overzetten van \
                           {product} naar {to} goed te keuren. We bevestigen het per e-mail zodra \
                           het gedaan is.",
        name_updated: "Ik heb de naam op uw account aangepast naar {name}.",
        need_new_name: "Ik pas de naam op uw account graag aan. Hoe moet die precies luiden?",
        email_updated: "Ik heb het inlogadres van uw account gewijzigd naar {email}.",
        email_pending: "Ik heb het team gevraagd de wijziging van het inlogadres van uw account \
                        naar {email} goed te keuren. Uw aankopen en voortgang blijven op uw \
                        account.",
        need_new_email: "Ik wijzig het e-mailadres van uw account graag. Welk adres wilt u \
                         gebruiken?",
        docs: "Bedankt voor uw vraag. Dit staat er in onze (Engelstalige) documentatie over:",
        ask_more: "Bedankt voor uw bericht! De support voor {product} loopt via e-mail, dus u \
                   bent aan het juiste adres. Kunt u iets meer vertellen over wat u nodig hebt?",
        wrong_business: "Ik denk dat dit bericht per vergissing bij ons is beland: wij zijn \
                         {product}, een online cursus, en we hebben geen gegevens van deze \
                         bestelling. Het bedrijf waar u bestelde kan u direct helpen.",
        kind_words: "Hartelijk dank voor uw vriendelijke woorden, dat betekent veel voor ons!",
        feedback: "Bedankt dat u de tijd nam om ons te schrijven. Zulke feedback helpt ons \
                   {product} te verbeteren; ik heb het aan het team doorgegeven.",
        follow_up: "Werkt er nog iets niet, antwoord dan gewoon op deze e-mail.",
    },
];

/// Composes the reply in the customer's language when the templates have it: an
/// escalation's holding reply in a language of [`HOLDING`] (English otherwise), an answer in
/// English or a language of [`ANSWERS`] (the agent hands any other language over,
/// [`can_answer_in`]).
pub fn compose(f: &ReplyFacts<'_>, situation: &Situation) -> String {
    let name = template::greeting_name(Some(f.facts), &f.route.analysis.body);
    let holds = f.action.is_escalation() || *situation == Situation::Holding;
    let language = f.route.analysis.language.as_str();
    let localised = answers_in(language).filter(|_| !holds);
    let phrases = holding_in(if holds || localised.is_some() {
        language
    } else {
        ANSWER_LANGUAGE
    });
    let greeting = match &name {
        Some(n) => phrases.greeting.replace("{name}", n),
        None => phrases.greeting_anonymous.to_owned(),
    };
    let body = if holds {
        holding(f, phrases)
    } else if let Some(a) = localised {
        respond_localised(f, situation, a)
    } else if *situation == Situation::Canned {
        canned(f, name.as_deref()).unwrap_or_else(|| answer(f))
    } else {
        respond(f, situation)
    };
    format!(
        "{greeting}\n\n{}\n\n{}\n{}",
        body.join("\n\n"),
        phrases.closing,
        f.profile.signature()
    )
}

fn holding(f: &ReplyFacts<'_>, phrases: &Holding) -> Vec<String> {
    match f.action {
        RouteAction::EscalateUrgent => vec![phrases.urgent.to_owned()],
        RouteAction::EscalateInstructor => {
            let who = if f.profile.instructor.is_empty() {
                "the instructor".to_owned()
            } else {
                f.profile.instructor.clone()
            };
            vec![phrases.instructor.replace("{who}", &who)]
        }
        _ => {
            let first = if f.route.flags.angry {
                phrases.angry
            } else {
                phrases.thanks
            };
            vec![first.to_owned(), phrases.team.to_owned()]
        }
    }
}

/// `template` with each `{key}` replaced.
fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(template.to_owned(), |t, (k, v)| {
        t.replace(&format!("{{{k}}}"), v)
    })
}

/// The reply in a language of [`ANSWERS`].
fn respond_localised(f: &ReplyFacts<'_>, situation: &Situation, a: &Answers) -> Vec<String> {
    let email = f.facts.email.as_str();
    let one = |t: &str, vars: &[(&str, &str)]| vec![fill(t, vars)];
    match situation {
        Situation::LinkSent => vec![
            fill(a.link_sent, &[("email", email)]),
            a.follow_up.to_owned(),
        ],
        Situation::NoPurchaseFound => one(a.no_purchase, &[("email", email)]),
        Situation::NoAccountFound => one(a.no_account, &[("email", email)]),
        Situation::Refunded(p) => one(a.refunded, &[("product", &p.product)]),
        Situation::RefundPending(p) => one(a.refund_pending, &[("product", &p.product)]),
        Situation::OwnerMustConfirm => one(a.owner_must_confirm, &[("email", email)]),
        Situation::NeedTransferTarget(p) => one(a.need_transfer_target, &[("product", &p.product)]),
        Situation::Transferred(p, to) => {
            one(a.transferred, &[("product", &p.product), ("to", &join(to))])
        }
        Situation::TransferPending(p, to) => one(
            a.transfer_pending,
            &[("product", &p.product), ("to", &join(to))],
        ),
        Situation::NameUpdated(name) => one(a.name_updated, &[("name", name)]),
        Situation::NeedNewName => one(a.need_new_name, &[]),
        Situation::EmailUpdated(new) => one(a.email_updated, &[("email", new)]),
        Situation::EmailPending(new) => one(a.email_pending, &[("email", new)]),
        Situation::NeedNewEmail => one(a.need_new_email, &[]),
        Situation::Holding | Situation::Canned | Situation::Answer => {
            let product = f.profile.product.as_str();
            match f.route.intent {
                Intent::WrongBusiness => one(a.wrong_business, &[("product", product)]),
                Intent::Thanks => one(a.kind_words, &[]),
                Intent::Comment | Intent::ForInstructor => one(a.feedback, &[("product", product)]),
                _ => {
                    let kb = knowledge(f, 2);
                    if kb.is_empty() {
                        return one(a.ask_more, &[("product", product)]);
                    }
                    let mut v = vec![a.docs.to_owned()];
                    v.extend(kb);
                    v.push(a.follow_up.to_owned());
                    v
                }
            }
        }
    }
}

/// Fills a canned template; `None` if a variable has no value (never send placeholders).
fn canned(f: &ReplyFacts<'_>, name: Option<&str>) -> Option<Vec<String>> {
    let template = &f.route.canned.as_ref()?.body;
    let vars = template::values(f.profile, Some(&f.facts.email), name);
    let filled = template::fill(template, &vars)?;
    // A canned body may carry its own greeting and sign-off; keep only the middle.
    let lines: Vec<&str> = filled
        .lines()
        .filter(|l| {
            let t = l.trim().to_lowercase();
            !(t.starts_with("hi ") || t.starts_with("hello ") || t == "best," || t == "thanks,")
        })
        .collect();
    Some(vec![lines.join("\n").trim().to_owned()])
}

fn respond(f: &ReplyFacts<'_>, situation: &Situation) -> Vec<String> {
    let email = &f.facts.email;
    let angry = f.route.flags.angry;
    let mut v = Vec::new();
    match situation {
        Situation::LinkSent => {
            if angry {
                v.push(
                    "I'm really sorry about the trouble getting in. Let's fix that right now."
                        .into(),
                );
            }
            v.push(format!(
                "I've just sent a fresh login link to {email}. It should arrive within a few \
                 minutes; if you don't see it, please check your spam or promotions folder."
            ));
            if let Some(p) = f.facts.active_purchases().first() {
                v.push(format!(
                    "I can see your {} purchase on that address, so the link will take you \
                     straight to it.",
                    p.product
                ));
            }
            v.extend(knowledge(f, 1));
            v.push("If anything still doesn't work, just reply here and I'll sort it out.".into());
        }
        Situation::NoPurchaseFound => {
            let goal = if f.route.intent == Intent::Refund {
                "look into the refund for you"
            } else {
                "get you into your course"
            };
            v.push(format!(
                "I looked for a purchase under {email} but couldn't find one. It may have been \
                 made with a different email address: could you reply with the address you used \
                 at checkout, or the order number from your receipt?"
            ));
            v.push(format!("As soon as I have it, I'll {goal}."));
        }
        Situation::NoAccountFound => v.push(format!(
            "I couldn't find an account under {email}. Which email address do you use to sign \
             in? Once I know, I'll take care of it."
        )),
        Situation::Refunded(p) => {
            if angry {
                v.push("I'm sorry the course didn't live up to what you expected.".into());
            }
            v.push(format!(
                "I've refunded your {} purchase in full to your original payment method. \
                 Depending on your bank, it can take a few business days to show on your \
                 statement.",
                p.product
            ));
        }
        Situation::RefundPending(p) => {
            v.push(format!(
                "Thanks for letting us know. Your {} purchase is outside the window for instant \
                 refunds, so I've asked the team to review your refund request.",
                p.product
            ));
            v.push("You'll hear back from us by email as soon as it's been reviewed.".into());
        }
        Situation::OwnerMustConfirm => {
            v.push(
                "Happy to help with this. For security, we can only move a purchase to someone \
                 else when its owner asks us to."
                    .into(),
            );
            v.push(format!(
                "Could you ask the person who bought it to email us from the address they used \
                 at checkout, confirming they'd like it moved to {email}? As soon as we hear from \
                 them, we'll take care of it."
            ));
        }
        Situation::NeedTransferTarget(p) => v.push(format!(
            "Happy to move your {} purchase. Which email address should it go to?",
            p.product
        )),
        Situation::Transferred(p, to) => {
            let to = join(to);
            v.push(format!(
                "All done: I've moved your {} purchase to {to}.",
                p.product
            ));
            v.push(format!(
                "From now on, {to} can sign in with a login link sent to that address."
            ));
        }
        Situation::TransferPending(p, to) => {
            let what = if p.is_team {
                "the seats on your team licence".to_owned()
            } else {
                format!("your {} purchase", p.product)
            };
            v.push(format!(
                "Thanks for the details. I've asked the team to approve moving {what} to {}.",
                join(to)
            ));
            v.push("We'll confirm by email as soon as it's done.".into());
        }
        Situation::NameUpdated(name) => {
            v.push(format!("I've updated the name on your account to {name}."));
            if CueText::new(&f.route.analysis.cleaned).has("certificate*") {
                v.push("Any certificate you download from now on will show the new name.".into());
            }
        }
        Situation::NeedNewName => {
            v.push("Happy to fix the name on your account. How exactly should it read?".into())
        }
        Situation::EmailUpdated(new) => v.push(format!(
            "I've changed the login email on your account to {new}."
        )),
        Situation::EmailPending(new) => {
            v.push(format!(
                "I've asked the team to approve changing the login email on your account to \
                 {new}."
            ));
            v.push(
                "Once that's confirmed, you'll sign in with the new address, and your \
                 purchases and progress stay with your account."
                    .into(),
            );
        }
        Situation::NeedNewEmail => v.push(
            "Happy to change the email on your account. Which address would you like to use?"
                .into(),
        ),
        Situation::Holding | Situation::Canned | Situation::Answer => return answer(f),
    }
    v
}

fn answer(f: &ReplyFacts<'_>) -> Vec<String> {
    let mut v = Vec::new();
    let cues = CueText::new(&f.route.analysis.cleaned);
    let product = &f.profile.product;
    match f.route.intent {
        Intent::ProductQuestion => {
            v.push(format!("Thanks for your interest in {product}!"));
            let kb = knowledge(f, 2);
            if kb.is_empty() {
                v.push("Could you tell me a little more about what you'd like to know, so I can give you an accurate answer?".into());
            }
            v.extend(kb);
            v.push("If there's anything else you'd like to know before deciding, just ask.".into());
        }
        Intent::TechnicalIssue => {
            let problem = cues.any(&[
                "error",
                "not",
                "doesnt",
                "cant",
                "wont",
                "stuck",
                "broken",
                "fails",
                "keeps",
                "spinner",
                "resetting",
                "problem",
                "issue",
            ]);
            if problem {
                v.push(
                    "Sorry you're running into this, and thanks for the clear description.".into(),
                );
            } else {
                v.push("Good question!".into());
            }
            v.extend(knowledge(f, 2));
            if problem {
                v.push("If that doesn't solve it, reply with your browser or setup details and what you see, and we'll dig in.".into());
            } else {
                v.push("If anything else comes up, just reply here.".into());
            }
        }
        Intent::Subscription => {
            for s in f.subscriptions {
                let next = if s.cancel_at_period_end {
                    "it ends then and does not renew"
                } else {
                    "that is when it renews"
                };
                v.push(format!(
                    "I can see your {} ({}), with the current period ending on {} ({next}).",
                    s.product_name,
                    s.status,
                    date(&s.current_period_end)
                ));
            }
            v.extend(knowledge(f, 1));
            if cues.any(&["card*", "payment method*"]) {
                v.push("To change the card it renews on, open Account, then Billing, and update the payment method there; the next renewal is charged to the new card.".into());
            }
            v.push("If you'd like me to cancel it for you instead, just reply to confirm and I'll take care of it.".into());
        }
        Intent::Receipt => {
            let doc = if cues.has("invoice*") {
                "invoice"
            } else {
                "receipt"
            };
            if let Some(p) = f.facts.active_purchases().first() {
                v.push(format!(
                    "Of course! I can see your {} purchase from {}.",
                    p.product,
                    date(&p.purchased_at)
                ));
            }
            v.extend(knowledge(f, 1));
            v.push(format!(
                "If you'd rather I send the {doc} over, reply with any details that need to be on it and I'll get it to you."
            ));
        }
        Intent::ChargeQuestion => {
            v.push("Thanks for checking with us.".into());
            let purchases = f.facts.active_purchases();
            if let Some(p) = purchases.first() {
                v.push(format!(
                    "I can see {} {} purchase on your account, from {}.",
                    if purchases.len() == 1 { "one" } else { "a" },
                    p.product,
                    date(&p.purchased_at)
                ));
            }
            v.extend(knowledge(f, 1));
            v.push(
                "If both charges are still there in a few days, reply here and we'll sort it out."
                    .into(),
            );
        }
        Intent::TeamSeatAccess => {
            v.extend(knowledge(f, 1));
            v.push("If your admin has already added you and nothing arrived, let me know and I'll look into it.".into());
        }
        Intent::Comment | Intent::ForInstructor => {
            v.push(format!(
                "Thank you for taking the time to write this up. Feedback like this really helps us improve {product}."
            ));
            v.push("I've passed it on to the team.".into());
        }
        Intent::Thanks => v.push("Thank you for the kind words, it means a lot to us!".into()),
        Intent::WrongBusiness => v.push(format!(
            "I think this message may have reached us by mistake: we're {product}, an online \
             learning product, so we don't have any record of this order. The business you \
             ordered from will be able to help you directly."
        )),
        _ if text::tokens(&f.route.analysis.body).len() < 3 => v.push(
            "It looks like your message came through without any text. What can I help you with?"
                .into(),
        ),
        _ => v.push(format!(
            "Thanks for getting in touch! We handle all {product} support by email, so you're in \
             the right place. Could you tell me a little more about what you need? I'll take it \
             from there."
        )),
    }
    v
}

/// Up to `n` knowledge passages, the best first, keeping only those close to the best.
fn knowledge(f: &ReplyFacts<'_>, n: usize) -> Vec<String> {
    let Some(best) = f.knowledge.first().map(|h| h.score) else {
        return Vec::new();
    };
    f.knowledge
        .iter()
        .filter(|h| h.score >= best * 0.6)
        .take(n)
        .map(|h| strip_title(h.text.trim()))
        .collect()
}

/// Drops a short "Title: " lead-in from a knowledge passage.
fn strip_title(passage: &str) -> String {
    match passage.split_once(": ") {
        Some((title, rest)) if title.split_whitespace().count() <= 4 && !rest.is_empty() => {
            let mut chars = rest.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        }
        _ => passage.to_owned(),
    }
}

fn join(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The date part of an ISO timestamp.
fn date(iso: &str) -> String {
    iso.get(..10).unwrap_or(iso).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knowledge_titles_are_dropped() {
        assert_eq!(strip_title("Offline viewing: every lesson"), "Every lesson");
        assert_eq!(strip_title("No title here"), "No title here");
    }

    #[test]
    fn lists_read_naturally() {
        assert_eq!(join(&["a".into()]), "a");
        assert_eq!(join(&["a".into(), "b".into(), "c".into()]), "a, b and c");
        assert_eq!(date("2024-01-15T10:30:00.000Z"), "2024-01-15");
    }
}
